package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"
)

// Timings of the feed.
const (
	// RefreshInterval is how often the view is rebuilt without a change
	// notice (a Backend that is not a Notifier, or times shown as "ago").
	RefreshInterval = 5 * time.Second
	// coalesce is the pause after a change notice, so that a burst of
	// changes (a job's steps, a node's status) makes one view.
	coalesce = 250 * time.Millisecond
	// buildTimeout bounds the reads of one view.
	buildTimeout = 20 * time.Second
)

// feed builds the view while anyone watches, and hands every new view to
// every subscriber (the newest wins when a subscriber is slow).
type feed struct {
	b   Backend
	log *slog.Logger

	mu      sync.Mutex
	subs    map[chan []byte]struct{}
	last    []byte
	running bool
	stop    chan struct{} // closed when the last subscriber leaves
}

func newFeed(b Backend, log *slog.Logger) *feed {
	return &feed{b: b, log: log, subs: map[chan []byte]struct{}{}}
}

// subscribe returns a channel of views (JSON), the newest first if there
// is one, and the function that ends the subscription.
func (f *feed) subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, 1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[ch] = struct{}{}
	if f.last != nil {
		ch <- f.last
	}
	if !f.running {
		f.running, f.stop, f.last = true, make(chan struct{}), nil
		go f.run(f.stop)
	}
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, found := f.subs[ch]; !found {
			return
		}
		delete(f.subs, ch)
		if len(f.subs) == 0 && f.running {
			close(f.stop)
			f.running = false
		}
	}
}

// run rebuilds the view at every change until stop is closed.
func (f *feed) run(stop <-chan struct{}) {
	for {
		var changed <-chan struct{}
		if n, isN := f.b.(Notifier); isN {
			changed = n.Changed() // before reading: no change is missed
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		data, err := json.Marshal(buildView(ctx, f.b))
		cancel()
		if err != nil {
			f.log.Error("ui view", "err", err)
		}
		f.mu.Lock()
		select {
		case <-stop:
			f.mu.Unlock()
			return
		default:
		}
		if err == nil && !bytes.Equal(data, f.last) {
			f.last = data
			for ch := range f.subs {
				select {
				case ch <- data:
				default:
					select { // drop the view it did not read yet
					case <-ch:
					default:
					}
					ch <- data
				}
			}
		}
		f.mu.Unlock()
		select {
		case <-stop:
			return
		case <-changed:
		case <-time.After(RefreshInterval):
		}
		select {
		case <-stop:
			return
		case <-time.After(coalesce):
		}
	}
}
