package libvirt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/domxml"
)

// Containers have only a pty console, which keeps no history. For a
// container whose spec names a ConsoleLog (kept in drover's metadata in the
// domain XML), the driver copies the console stream into that file from
// Start until the container stops, over a connection of its own; after a
// reconnect (or in a new driver) it reattaches to running containers.
// Output between a start and the attach (milliseconds) may be lost.

// consoleLogOf returns drover's console log path recorded in dom's XML.
func consoleLogOf(l *golibvirt.Libvirt, dom golibvirt.Domain) (string, error) {
	x, err := l.DomainGetXMLDesc(dom, 0)
	if err != nil {
		return "", err
	}
	p, err := domxml.Parse([]byte(x))
	if err != nil {
		return "", fmt.Errorf("%w: %w", hv.ErrInvalidSpec, err)
	}
	return p.MetaConsoleLog, nil
}

// capture starts copying name's console to path unless a copy runs.
func (d *Driver) capture(name, path string) {
	d.mu.Lock()
	if d.closed || d.captures[name] != nil {
		d.mu.Unlock()
		return
	}
	cp := &captureState{done: make(chan struct{})}
	d.captures[name] = cp
	d.mu.Unlock()
	go func() {
		defer close(cp.done)
		var err error
		for wait := 500 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
			err = d.runCapture(cp, name, path)
			// The stream can end while the container runs (a console
			// session another client still held, a reset): copy again.
			if !d.stillRunning(name) {
				break
			}
			d.log.Debug("console_capture_retry", "domain", name, "err", err, "in", wait)
			select {
			case <-d.stop:
			case <-time.After(wait):
				continue
			}
			break
		}
		d.mu.Lock()
		delete(d.captures, name)
		d.mu.Unlock()
		switch {
		case err == nil:
		case errors.Is(mapErr("", "", err), hv.ErrWrongState), golibvirt.IsNotFound(err):
			// Stopped or removed before the copy attached.
			d.log.Debug("console_capture_ended", "domain", name, "err", err)
		default:
			d.log.Warn("console_capture_ended", "domain", name, "err", err)
		}
	}()
}

type captureState struct {
	done chan struct{}
	conn *conn // set once dialled; killed by Close
}

func (d *Driver) runCapture(cp *captureState, name, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := d.dial(context.Background())
	if err != nil {
		return err
	}
	d.mu.Lock()
	closed := d.closed
	cp.conn = c
	d.mu.Unlock()
	if closed {
		c.kill(errors.New("driver closed"))
		return nil
	}
	defer c.kill(errors.New("console capture ended"))
	var dom golibvirt.Domain
	err = d.do(context.Background(), c, d.opts.CallTimeout, func(l *golibvirt.Libvirt) error {
		var err error
		dom, err = l.DomainLookupByName(name)
		return err
	})
	if err != nil {
		return err
	}
	// Blocks until the container stops or the connection is killed.
	err = c.l.DomainOpenConsole(dom, nil, f, 0)
	select {
	case <-c.dead:
		return nil // closed by us
	default:
	}
	if err != nil && !errors.Is(err, golibvirt.ErrInterrupted) {
		return err
	}
	return nil
}

// stillRunning reports whether the driver is open and name is active.
func (d *Driver) stillRunning(name string) bool {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.CallTimeout)
	defer cancel()
	st, err := d.State(ctx, name)
	return err == nil && st.Active()
}

// stopCaptures ends every console copy (Close).
func (d *Driver) stopCaptures() {
	d.mu.Lock()
	var cps []*captureState
	for _, cp := range d.captures {
		cps = append(cps, cp)
	}
	d.mu.Unlock()
	for _, cp := range cps {
		d.mu.Lock()
		c := cp.conn
		d.mu.Unlock()
		if c != nil {
			c.kill(errors.New("driver closed"))
		}
		<-cp.done
	}
}

// reattachConsoles starts copies for running containers that log their
// console (after a connection is made).
func (d *Driver) reattachConsoles() {
	if d.opts.Kind != hv.KindLXC {
		return
	}
	type item struct{ name, path string }
	var items []item
	err := d.call(context.Background(), func(l *golibvirt.Libvirt) error {
		doms, _, err := l.ConnectListAllDomains(1, golibvirt.ConnectListDomainsActive)
		if err != nil {
			return err
		}
		for _, dom := range doms {
			p, err := consoleLogOf(l, dom)
			if golibvirt.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if p != "" {
				items = append(items, item{dom.Name, p})
			}
		}
		return nil
	})
	if err != nil {
		if d.Health() == nil {
			d.log.Warn("console_reattach_failed", "err", err)
		}
		return
	}
	for _, it := range items {
		d.capture(it.name, it.path)
	}
}
