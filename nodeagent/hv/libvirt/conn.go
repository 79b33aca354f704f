package libvirt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
)

// conn is one connection to libvirtd. It is never reused after it failed.
type conn struct {
	l    *golibvirt.Libvirt
	raw  net.Conn
	dead chan struct{} // closed by kill
	once sync.Once
	why  error
}

// kill closes the socket under go-libvirt, which fails every call in flight
// and closes its event streams.
func (c *conn) kill(why error) {
	c.once.Do(func() {
		c.why = why
		close(c.dead)
		_ = c.raw.Close()
	})
}

// rawDialer hands go-libvirt a connection we dialled ourselves, so that we
// can close it when libvirtd hangs.
type rawDialer struct{ c net.Conn }

func (r rawDialer) Dial() (net.Conn, error) { return r.c, nil }

// dial opens and initialises a connection within timeout.
func (d *Driver) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.ConnectTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, d.ep.network, d.ep.address)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", d.ep.network, d.ep.address, err)
	}
	c := &conn{l: golibvirt.NewWithDialer(rawDialer{raw}), raw: raw, dead: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		if err := c.l.ConnectToURI(d.ep.remote); err != nil {
			errc <- err
			return
		}
		_, err := c.l.ConnectGetLibVersion()
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			c.kill(err)
			return nil, fmt.Errorf("open %s: %w", d.ep.remote, err)
		}
	case <-ctx.Done():
		c.kill(ctx.Err())
		return nil, fmt.Errorf("open %s at %s: no answer within %s", d.ep.remote, d.ep.address, d.opts.ConnectTimeout)
	}
	go func() {
		select {
		case <-c.l.Disconnected():
			c.kill(errors.New("libvirtd closed the connection"))
		case <-c.dead:
		}
		d.lost(c)
	}()
	return c, nil
}

// attempt is one connection attempt in progress; callers that find no
// connection wait for it instead of starting their own.
type attempt struct {
	done chan struct{}
	c    *conn
	err  error
}

// current returns a live connection, connecting now if there is none.
func (d *Driver) current(ctx context.Context) (*conn, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, fmt.Errorf("driver closed: %w", hv.ErrHypervisorDown)
	}
	if c := d.cur; c != nil {
		d.mu.Unlock()
		return c, nil
	}
	d.mu.Unlock()
	return d.connect(ctx)
}

// connect joins the connection attempt in progress or starts one, and waits
// for it within ctx. A new connection is subscribed to events before use.
func (d *Driver) connect(ctx context.Context) (*conn, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, fmt.Errorf("driver closed: %w", hv.ErrHypervisorDown)
	}
	if c := d.cur; c != nil {
		d.mu.Unlock()
		return c, nil
	}
	a := d.attempt
	if a == nil {
		a = &attempt{done: make(chan struct{})}
		d.attempt = a
		go d.runAttempt(a)
	}
	d.mu.Unlock()
	select {
	case <-a.done:
		return a.c, a.err
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for connection: %w: %w", hv.ErrHypervisorDown, ctx.Err())
	}
}

func (d *Driver) runAttempt(a *attempt) {
	defer close(a.done)
	c, err := d.dial(context.Background())
	if err == nil {
		if err = d.subscribe(c); err != nil {
			c.kill(err)
			err = fmt.Errorf("subscribe to events: %w", err)
		}
	}
	d.mu.Lock()
	d.attempt = nil
	if err != nil {
		d.lastErr = err
		d.mu.Unlock()
		a.err = fmt.Errorf("%w: %w", hv.ErrHypervisorDown, err)
		return
	}
	if d.closed {
		d.mu.Unlock()
		c.kill(errors.New("driver closed"))
		a.err = fmt.Errorf("driver closed: %w", hv.ErrHypervisorDown)
		return
	}
	first := d.connects == 0
	d.cur, d.lastErr = c, nil
	d.connects++
	d.mu.Unlock()
	a.c = c
	d.log.Info("hypervisor_connected", "uri", string(d.ep.remote), "address", d.ep.address)
	if !first {
		d.broadcast(hv.Event{Type: hv.EventReconnected, Time: time.Now()})
	}
	go d.reattachConsoles()
}

// lost is called once per connection when it dies; it starts reconnecting.
func (d *Driver) lost(c *conn) {
	d.mu.Lock()
	if d.cur != c {
		d.mu.Unlock()
		return
	}
	d.cur = nil
	d.lastErr = c.why
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return
	}
	d.log.Warn("hypervisor_connection_lost", "uri", string(d.ep.remote), "err", c.why)
	d.kickReconnect()
}

func (d *Driver) setErr(err error) {
	d.mu.Lock()
	d.lastErr = err
	d.mu.Unlock()
}

func (d *Driver) kickReconnect() {
	select {
	case d.reconnect <- struct{}{}:
	default:
	}
}

// loop reconnects with back-off after a connection is lost and pings the
// daemon every HealthInterval, so that a hung libvirtd is noticed even when
// nobody calls.
func (d *Driver) loop() {
	defer close(d.loopDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-d.stop
		cancel()
	}()
	backoff := d.opts.ReconnectMin
	tick := time.NewTicker(d.opts.HealthInterval)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-d.reconnect:
		case <-tick.C:
		}
		d.mu.Lock()
		c := d.cur
		d.mu.Unlock()
		if c != nil {
			// Health ping; a failure kills the connection and kicks us.
			_ = d.do(ctx, c, d.opts.CallTimeout, func(l *golibvirt.Libvirt) error {
				_, err := l.ConnectGetLibVersion()
				return err
			})
			continue
		}
		if _, err := d.connect(ctx); err == nil {
			backoff = d.opts.ReconnectMin
			continue
		} else {
			d.log.Debug("hypervisor_reconnect_failed", "err", err, "retry_in", backoff)
		}
		select {
		case <-d.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, d.opts.ReconnectMax)
		d.kickReconnect()
	}
}

// do runs fn on c within timeout (and ctx). When the daemon does not answer
// in time or the transport fails, the connection is closed and the error
// wraps hv.ErrHypervisorDown; the caller's own cancellation is returned as
// is. On an error return fn may still be running: callers read what fn
// writes only after a nil error.
func (d *Driver) do(ctx context.Context, c *conn, timeout time.Duration, fn func(*golibvirt.Libvirt) error) error {
	errc := make(chan error, 1)
	go func() { errc <- fn(c.l) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-errc:
		if err != nil && !isLibvirtErr(err) && !isLocal(err) {
			c.kill(err)
			return fmt.Errorf("%w: %w", hv.ErrHypervisorDown, err)
		}
		return err
	case <-c.dead:
		return fmt.Errorf("%w: %w", hv.ErrHypervisorDown, c.why)
	case <-t.C:
		err := fmt.Errorf("libvirtd at %s did not answer within %s", d.ep.address, timeout.Round(time.Millisecond))
		c.kill(err)
		return fmt.Errorf("%w: %w", hv.ErrHypervisorDown, err)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The caller's deadline passed first: we cannot tell a slow call
			// from a hung daemon, so say the hypervisor did not answer, but
			// keep the connection: the health ping decides.
			return fmt.Errorf("%w: no answer before the caller's deadline: %w", hv.ErrHypervisorDown, ctx.Err())
		}
		return ctx.Err()
	}
}

// call runs fn with a live connection and the normal call timeout.
func (d *Driver) call(ctx context.Context, fn func(*golibvirt.Libvirt) error) error {
	return d.callTimeout(ctx, d.opts.CallTimeout, fn)
}

func (d *Driver) callTimeout(ctx context.Context, timeout time.Duration, fn func(*golibvirt.Libvirt) error) error {
	deadline := time.Now().Add(timeout)
	c, err := d.currentWithin(ctx, deadline)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w: no connection to libvirtd at %s within %s", hv.ErrHypervisorDown, d.ep.address, timeout)
		}
		return err
	}
	return d.do(ctx, c, time.Until(deadline), fn)
}

// currentWithin returns a live connection by deadline: while connecting
// fails fast (libvirtd's socket refuses: it is restarting), it tries again
// every ReconnectMin for up to ReconnectGrace. No call was sent on a
// connection that does not exist, so this never repeats an operation.
func (d *Driver) currentWithin(ctx context.Context, deadline time.Time) (*conn, error) {
	cctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	grace := time.Now().Add(d.opts.ReconnectGrace)
	for {
		c, err := d.current(cctx)
		if err == nil || cctx.Err() != nil || time.Now().After(grace) {
			return c, err
		}
		d.mu.Lock()
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return nil, err
		}
		select {
		case <-cctx.Done():
			return nil, err
		case <-d.stop:
			return nil, err
		case <-time.After(d.opts.ReconnectMin):
		}
	}
}

// Health implements hv.HealthReporter: nil while connected.
func (d *Driver) Health() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return fmt.Errorf("libvirt: driver closed: %w", hv.ErrHypervisorDown)
	case d.cur != nil:
		return nil
	case d.lastErr != nil:
		return fmt.Errorf("libvirt: %s: %w: %w", d.ep.remote, hv.ErrHypervisorDown, d.lastErr)
	}
	return fmt.Errorf("libvirt: %s: not connected: %w", d.ep.remote, hv.ErrHypervisorDown)
}
