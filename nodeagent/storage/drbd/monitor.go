package drbd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/drover-project/drover/master/keys"
)

// Monitor follows `drbdsetup events2 --timestamps --statistics all` and keeps
// the kernel's DRBD state; it restarts drbdsetup when it exits.
type Monitor struct {
	// Command is drbdsetup and its arguments (default: the events2 call
	// above); a test may point it at a recording.
	Command []string
	// OnChange is called (from the monitor's goroutine) after the initial
	// dump and after every change that DRBDResource shows.
	OnChange func([]keys.DRBDResource)
	Log      *slog.Logger

	mu      sync.Mutex
	state   *State
	ready   bool
	changed chan struct{}
}

// Run reads events until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	if len(m.Command) == 0 {
		m.Command = []string{"drbdsetup", "events2", "--timestamps", "--statistics", "all"}
	}
	if m.Log == nil {
		m.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := m.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			backoff = 200 * time.Millisecond
		}
		m.Log.Warn("drbd_events2_ended", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (m *Monitor) follow(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, m.Command[0], m.Command[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("drbd: start events2: %w", err)
	}
	defer func() { _ = cmd.Wait() }()
	m.mu.Lock()
	m.stateLocked().Reset()
	m.ready = false
	m.mu.Unlock()
	return m.Feed(out)
}

func (m *Monitor) stateLocked() *State {
	if m.state == nil {
		m.state = NewState()
	}
	return m.state
}

// Feed folds every line of r into the state (Run uses it; tests feed
// recordings). Unparseable lines are logged and skipped.
func (m *Monitor) Feed(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		e, err := ParseEvent(sc.Text())
		if err != nil {
			if m.Log != nil {
				m.Log.Warn("drbd_event_unparsed", "err", err)
			}
			continue
		}
		m.mu.Lock()
		changed := m.stateLocked().Apply(e)
		if e.EndOfDump() {
			m.ready, changed = true, true
		}
		notify := changed && m.ready
		var res []keys.DRBDResource
		if notify {
			res = m.state.Resources()
			if m.changed != nil {
				close(m.changed)
				m.changed = nil
			}
		}
		m.mu.Unlock()
		if notify && m.OnChange != nil {
			m.OnChange(res)
		}
	}
	return sc.Err()
}

// Resources is the current state (nil before the initial dump was read).
func (m *Monitor) Resources() []keys.DRBDResource {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ready {
		return nil
	}
	return m.state.Resources()
}

// Wait blocks until cond holds for resource name's state (ok false: the
// kernel has no such resource) or ctx ends.
func (m *Monitor) Wait(ctx context.Context, name string, cond func(r keys.DRBDResource, ok bool) bool) error {
	for {
		m.mu.Lock()
		if m.ready {
			r, ok := m.state.Resource(name)
			if cond(r, ok) {
				m.mu.Unlock()
				return nil
			}
		}
		if m.changed == nil {
			m.changed = make(chan struct{})
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("drbd: wait for %s: %w", name, ctx.Err())
		case <-ch:
		case <-time.After(2 * time.Second):
		}
	}
}
