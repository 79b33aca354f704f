package libvirt

import (
	"context"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
)

// subscribe registers for lifecycle events on a new connection and pumps
// them to the driver's subscribers until the connection dies.
func (d *Driver) subscribe(c *conn) error {
	ctx, cancel := context.WithCancel(context.Background())
	var ch <-chan golibvirt.DomainEventLifecycleMsg
	err := d.do(context.Background(), c, d.opts.CallTimeout, func(l *golibvirt.Libvirt) error {
		var err error
		ch, err = l.LifecycleEvents(ctx)
		return err
	})
	if err != nil {
		cancel()
		return err
	}
	go func() {
		defer cancel()
		for {
			select {
			case <-c.dead:
				return
			case <-d.stop:
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				d.broadcast(toEvent(m))
			}
		}
	}()
	return nil
}

func toEvent(m golibvirt.DomainEventLifecycleMsg) hv.Event {
	ev := hv.Event{Domain: m.Dom.Name, UUID: uuidString(m.Dom.UUID), Detail: int(m.Detail), Time: time.Now()}
	switch golibvirt.DomainEventType(m.Event) {
	case golibvirt.DomainEventDefined:
		ev.Type, ev.State = hv.EventDefined, hv.StateStopped
	case golibvirt.DomainEventUndefined:
		ev.Type, ev.State = hv.EventUndefined, hv.StateStopped
	case golibvirt.DomainEventStarted:
		ev.Type, ev.State = hv.EventStarted, hv.StateRunning
	case golibvirt.DomainEventSuspended:
		ev.Type, ev.State = hv.EventSuspended, hv.StatePaused
	case golibvirt.DomainEventResumed:
		ev.Type, ev.State = hv.EventResumed, hv.StateRunning
	case golibvirt.DomainEventStopped:
		ev.Type, ev.State = hv.EventStopped, hv.StateStopped
		if m.Detail == int32(golibvirt.DomainEventStoppedCrashed) {
			ev.Type = hv.EventCrashed
		}
	case golibvirt.DomainEventShutdown:
		ev.Type, ev.State = hv.EventShutdown, hv.StateShutdown
	case golibvirt.DomainEventCrashed:
		ev.Type, ev.State = hv.EventCrashed, hv.StateCrashed
	default:
		ev.Type, ev.State = hv.EventOther, hv.StateUnknown
	}
	return ev
}

func uuidString(u golibvirt.UUID) string {
	b := u[:]
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Events implements hv.EventSource. Events survive reconnects: after one, an
// hv.EventReconnected tells the consumer to resync (events may be lost while
// the daemon was away). A consumer that falls behind by more than the buffer
// loses events rather than blocking the driver.
func (d *Driver) Events(ctx context.Context) (<-chan hv.Event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("libvirt: events: driver closed: %w", hv.ErrHypervisorDown)
	}
	ch := make(chan hv.Event, 256)
	d.subs[ch] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-d.stop:
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.subs[ch]; ok {
			delete(d.subs, ch)
			close(ch)
		}
	}()
	return ch, nil
}

func (d *Driver) broadcast(ev hv.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.subs {
		select {
		case ch <- ev:
		default:
			d.log.Warn("event_dropped", "domain", ev.Domain, "event", string(ev.Type))
		}
	}
}
