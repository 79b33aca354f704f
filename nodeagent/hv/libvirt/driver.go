package libvirt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/domxml"
)

// Options configure a libvirt driver.
type Options struct {
	// Kind is the hypervisor: kvm, lxc, xen, openvz or test.
	Kind hv.Kind
	// URI of libvirtd's driver; default DefaultURI(Kind). Unix and TCP
	// transports: "qemu:///system", "lxc+unix:///system?socket=/x/libvirt-sock",
	// "test+tcp://127.0.0.2:16510/default".
	URI string
	// DomainType for kvm: "kvm", "qemu" (TCG emulation) or "auto"/"" (kvm
	// if this host's /dev/kvm can run a guest, else qemu; see ProbeKVM).
	DomainType string
	// CallTimeout bounds every libvirt call (default 30 s); LongCallTimeout
	// bounds define, start, destroy and undefine, which may wait for QEMU
	// (default 2 min). A call that runs out marks the hypervisor down.
	CallTimeout     time.Duration
	LongCallTimeout time.Duration
	// ConnectTimeout bounds one connection attempt (default 10 s).
	ConnectTimeout time.Duration
	// ReconnectMin/Max bound the back-off between reconnection attempts
	// (default 200 ms and 10 s).
	ReconnectMin, ReconnectMax time.Duration
	// HealthInterval is how often an idle connection is pinged (default 5 s).
	HealthInterval time.Duration
	// ReconnectGrace is how long a call that finds no connection (libvirtd
	// restarting: systemd's, or local up's supervisor) keeps trying to
	// connect before it fails with ErrHypervisorDown; within the call's own
	// deadline (default 15 s). Nothing was sent yet, so waiting is safe.
	ReconnectGrace time.Duration
	// ShutdownPoll is how often Shutdown checks whether the guest stopped
	// (default 250 ms).
	ShutdownPoll time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Driver is a libvirt-backed hv.Driver.
type Driver struct {
	opts    Options
	ep      endpoint
	log     *slog.Logger
	domType string // for kvm: kvm or qemu

	mu       sync.Mutex
	cur      *conn
	lastErr  error
	connects int
	closed   bool
	subs     map[chan hv.Event]struct{}
	captures map[string]*captureState // lxc console copies by domain

	attempt   *attempt // connection attempt in progress
	reconnect chan struct{}
	stop      chan struct{}
	loopDone  chan struct{}
}

var (
	_ hv.Driver           = (*Driver)(nil)
	_ hv.EventSource      = (*Driver)(nil)
	_ hv.HealthReporter   = (*Driver)(nil)
	_ hv.Migrator         = (*Driver)(nil)
	_ hv.Saver            = (*Driver)(nil)
	_ hv.MigrationStatser = (*Driver)(nil)
)

// New connects to libvirtd. It fails with hv.ErrUnsupported when the
// hypervisor cannot run on this host (Xen without /proc/xen...) and with
// hv.ErrHypervisorDown when libvirtd does not answer; once connected, the
// driver reconnects by itself.
func New(ctx context.Context, opts Options) (*Driver, error) {
	switch opts.Kind {
	case hv.KindKVM, hv.KindLXC, hv.KindXen, hv.KindOpenVZ, hv.KindTest:
	default:
		return nil, fmt.Errorf("libvirt: hypervisor %q is not served by libvirt: %w", opts.Kind, hv.ErrUnsupported)
	}
	if opts.URI == "" {
		opts.URI = DefaultURI(opts.Kind)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.CallTimeout, 30*time.Second)
	def(&opts.LongCallTimeout, 2*time.Minute)
	def(&opts.ConnectTimeout, 10*time.Second)
	def(&opts.ReconnectMin, 200*time.Millisecond)
	def(&opts.ReconnectMax, 10*time.Second)
	def(&opts.HealthInterval, 5*time.Second)
	def(&opts.ReconnectGrace, 15*time.Second)
	def(&opts.ShutdownPoll, 250*time.Millisecond)
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	ep, err := parseURI(opts.URI)
	if err != nil {
		return nil, err
	}
	if err := preflight(opts.Kind, ep); err != nil {
		return nil, err
	}
	d := &Driver{
		opts: opts, ep: ep, log: lg.With("hypervisor", string(opts.Kind)),
		subs: map[chan hv.Event]struct{}{}, captures: map[string]*captureState{},
		reconnect: make(chan struct{}, 1), stop: make(chan struct{}), loopDone: make(chan struct{}),
	}
	if opts.Kind == hv.KindKVM {
		switch opts.DomainType {
		case "kvm", "qemu":
			d.domType = opts.DomainType
		case "", "auto":
			d.domType = "qemu"
			if err := ProbeKVM(); err == nil {
				d.domType = "kvm"
			} else {
				d.log.Info("kvm_unusable_using_tcg", "reason", err)
			}
		default:
			return nil, fmt.Errorf("libvirt: domain type %q: want kvm, qemu or auto: %w", opts.DomainType, hv.ErrInvalidSpec)
		}
	}
	if _, err := d.connect(ctx); err != nil {
		// The attempt may still finish after ctx ended: make it clean up.
		d.mu.Lock()
		d.closed = true
		c := d.cur
		d.cur = nil
		d.mu.Unlock()
		close(d.stop)
		if c != nil {
			c.kill(errors.New("driver not opened"))
		}
		return nil, d.explain(err)
	}
	go d.loop()
	return d, nil
}

// explain turns libvirt's "no driver" answers into operator-facing errors.
func (d *Driver) explain(err error) error {
	var le golibvirt.Error
	if errors.As(err, &le) && (le.Code == uint32(golibvirt.ErrNoConnect) || le.Code == uint32(golibvirt.ErrNoSupport)) {
		return fmt.Errorf("libvirt: hypervisor %s: libvirtd at %s cannot open %s (%s); is its driver installed and usable on this host? %w",
			d.opts.Kind, d.ep.address, d.ep.remote, le.Message, hv.ErrUnsupported)
	}
	return fmt.Errorf("libvirt: hypervisor %s: %w", d.opts.Kind, err)
}

// Name implements hv.Driver.
func (d *Driver) Name() hv.Kind { return d.opts.Kind }

// DomainType is the domain type used for kvm ("kvm" or "qemu"), "" otherwise.
func (d *Driver) DomainType() string { return d.domType }

// URI is the URI the driver connects to.
func (d *Driver) URI() string { return d.opts.URI }

// Close implements hv.Driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	c := d.cur
	d.cur = nil
	for ch := range d.subs {
		delete(d.subs, ch)
		close(ch)
	}
	d.mu.Unlock()
	close(d.stop)
	<-d.loopDone
	d.stopCaptures()
	if c != nil {
		// A polite goodbye, bounded: a hung daemon gets its socket closed.
		_ = d.do(context.Background(), c, 2*time.Second, func(l *golibvirt.Libvirt) error {
			return l.ConnectClose()
		})
		c.kill(errors.New("driver closed"))
	}
	return nil
}

// Define implements hv.Driver.
func (d *Driver) Define(ctx context.Context, spec hv.DomainSpec) error {
	if spec.Kind == "" {
		spec.Kind = d.opts.Kind
	}
	if spec.Kind != d.opts.Kind {
		return fmt.Errorf("libvirt: define %q: a %s domain on a %s node: %w", spec.Name, spec.Kind, d.opts.Kind, hv.ErrUnsupported)
	}
	if spec.UUID == "" {
		spec.UUID = newUUID()
	}
	x, err := domxml.Generate(spec, domxml.Options{KVMType: d.domType})
	if err != nil {
		return err
	}
	err = d.callTimeout(ctx, d.opts.LongCallTimeout, func(l *golibvirt.Libvirt) error {
		if _, err := l.DomainLookupByName(spec.Name); err == nil {
			return fmt.Errorf("libvirt: define %q: %w", spec.Name, hv.ErrAlreadyExists)
		} else if !golibvirt.IsNotFound(err) {
			return err
		}
		_, err := l.DomainDefineXMLFlags(string(x), golibvirt.DomainDefineValidate)
		return err
	})
	if err == nil {
		d.log.Debug("domain_defined", "domain", spec.Name)
	}
	return mapErr("define", spec.Name, err)
}

// lookup returns the domain handle and its state in one call.
func lookupState(l *golibvirt.Libvirt, name string) (golibvirt.Domain, hv.DomainState, error) {
	dom, err := l.DomainLookupByName(name)
	if err != nil {
		return dom, hv.StateUnknown, err
	}
	st, _, err := l.DomainGetState(dom, 0)
	if err != nil {
		return dom, hv.StateUnknown, err
	}
	return dom, toState(golibvirt.DomainState(st)), nil
}

func toState(s golibvirt.DomainState) hv.DomainState {
	switch s {
	case golibvirt.DomainRunning:
		return hv.StateRunning
	case golibvirt.DomainBlocked:
		return hv.StateBlocked
	case golibvirt.DomainPaused, golibvirt.DomainPmsuspended:
		return hv.StatePaused
	case golibvirt.DomainShutdown:
		return hv.StateShutdown
	case golibvirt.DomainShutoff:
		return hv.StateStopped
	case golibvirt.DomainCrashed:
		return hv.StateCrashed
	}
	return hv.StateUnknown
}

// onDomain looks the domain up, checks its state with want, and runs fn.
func (d *Driver) onDomain(ctx context.Context, op, name string, timeout time.Duration, want func(hv.DomainState) bool,
	fn func(*golibvirt.Libvirt, golibvirt.Domain) error) error {
	err := d.callTimeout(ctx, timeout, func(l *golibvirt.Libvirt) error {
		dom, st, err := lookupState(l, name)
		if err != nil {
			return err
		}
		if want != nil && !want(st) {
			return fmt.Errorf("domain is %s: %w", st, hv.ErrWrongState)
		}
		return fn(l, dom)
	})
	return mapErr(op, name, err)
}

func stopped(s hv.DomainState) bool { return !s.Active() }

// Undefine implements hv.Driver.
func (d *Driver) Undefine(ctx context.Context, name string) error {
	return d.onDomain(ctx, "undefine", name, d.opts.LongCallTimeout, stopped, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		return l.DomainUndefineFlags(dom, 0)
	})
}

// Start implements hv.Driver. For a container with a console log, the
// driver starts copying its console to the log.
func (d *Driver) Start(ctx context.Context, name string) error {
	var logPath string
	err := d.onDomain(ctx, "start", name, d.opts.LongCallTimeout, stopped, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		if d.opts.Kind == hv.KindLXC {
			var err error
			if logPath, err = consoleLogOf(l, dom); err != nil {
				return err
			}
		}
		return l.DomainCreate(dom)
	})
	if err == nil && logPath != "" {
		d.capture(name, logPath)
	}
	return err
}

// Destroy implements hv.Driver.
func (d *Driver) Destroy(ctx context.Context, name string) error {
	return d.onDomain(ctx, "destroy", name, d.opts.LongCallTimeout, hv.DomainState.Active, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		return l.DomainDestroyFlags(dom, 0)
	})
}

// Reboot implements hv.Driver.
func (d *Driver) Reboot(ctx context.Context, name string) error {
	running := func(s hv.DomainState) bool { return s == hv.StateRunning || s == hv.StateBlocked }
	return d.onDomain(ctx, "reboot", name, d.opts.CallTimeout, running, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		return l.DomainReboot(dom, 0)
	})
}

// Shutdown implements hv.Driver: a graceful request (ACPI for VMs; for
// containers initctl, then SIGTERM to init after half the timeout), then a
// wait of up to timeout.
func (d *Driver) Shutdown(ctx context.Context, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	err := d.onDomain(ctx, "shutdown", name, d.opts.CallTimeout, hv.DomainState.Active, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
		return l.DomainShutdownFlags(dom, 0)
	})
	if err != nil {
		return err
	}
	// LXC: libvirt first asks the container's init through initctl (systemd,
	// sysvinit); an init without initctl gets SIGTERM half-way through.
	escalate := d.opts.Kind == hv.KindLXC
	half := time.Now().Add(timeout / 2)
	for {
		if escalate && time.Now().After(half) {
			escalate = false
			err := d.onDomain(ctx, "shutdown", name, d.opts.CallTimeout, hv.DomainState.Active, func(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
				return l.DomainShutdownFlags(dom, golibvirt.DomainShutdownSignal)
			})
			if err != nil && !errors.Is(err, hv.ErrWrongState) && !errors.Is(err, hv.ErrNotFound) {
				return err
			}
		}
		st, err := d.State(ctx, name)
		if errors.Is(err, hv.ErrNotFound) {
			return nil // a transient domain vanishes when it stops
		}
		if errors.Is(err, hv.ErrHypervisorDown) && time.Now().Before(deadline) && ctx.Err() == nil {
			// libvirtd restarts under the wait (the guest runs on without
			// it): keep polling; the next State waits for the reconnect.
			d.log.Warn("shutdown_poll_hypervisor_down", "domain", name, "err", err)
			continue
		}
		if err != nil {
			return err
		}
		if !st.Active() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("libvirt: shutdown %q: guest still %s after %s: %w", name, st, timeout, hv.ErrTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("libvirt: shutdown %q: %w", name, ctx.Err())
		case <-time.After(min(d.opts.ShutdownPoll, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// State implements hv.Driver.
func (d *Driver) State(ctx context.Context, name string) (hv.DomainState, error) {
	// Captured results are read only after a nil error: on a timeout the
	// call's goroutine may still write them (see do).
	var st hv.DomainState
	err := d.call(ctx, func(l *golibvirt.Libvirt) error {
		var err error
		_, st, err = lookupState(l, name)
		return err
	})
	if err != nil {
		return hv.StateUnknown, mapErr("state", name, err)
	}
	return st, nil
}

// List implements hv.Driver.
func (d *Driver) List(ctx context.Context) ([]hv.DomainInfo, error) {
	var out []hv.DomainInfo
	err := d.call(ctx, func(l *golibvirt.Libvirt) error {
		doms, _, err := l.ConnectListAllDomains(1, golibvirt.ConnectListDomainsActive|golibvirt.ConnectListDomainsInactive)
		if err != nil {
			return err
		}
		out = make([]hv.DomainInfo, 0, len(doms))
		for _, dom := range doms {
			st, maxMem, _, ncpu, _, err := l.DomainGetInfo(dom)
			if golibvirt.IsNotFound(err) {
				continue // undefined meanwhile
			}
			if err != nil {
				return err
			}
			out = append(out, hv.DomainInfo{Name: dom.Name, UUID: uuidString(dom.UUID), State: toState(golibvirt.DomainState(st)),
				VCPUs: int(ncpu), MemoryMiB: int64(maxMem >> 10)})
		}
		return nil
	})
	if err != nil {
		return nil, mapErr("list", "", err)
	}
	sortInfos(out)
	return out, nil
}

// Resources implements hv.Driver.
func (d *Driver) Resources(ctx context.Context) (hv.NodeResources, error) {
	var r hv.NodeResources
	err := d.call(ctx, func(l *golibvirt.Libvirt) error {
		_, memKiB, cpus, _, _, _, _, _, err := l.NodeGetInfo()
		if err != nil {
			return err
		}
		r.CPUs, r.MemoryMiB = int(cpus), int64(memKiB>>10)
		free, err := l.NodeGetFreeMemory()
		if err == nil {
			r.FreeMemoryMiB = int64(free >> 20)
		} else if isLibvirtErr(err) {
			r.FreeMemoryMiB = -1 // not supported by this driver
		} else {
			return err
		}
		return nil
	})
	if err != nil {
		return hv.NodeResources{}, mapErr("resources", "", err)
	}
	doms, err := d.List(ctx)
	if err != nil {
		return r, err
	}
	r.Domains = len(doms)
	for _, i := range doms {
		if i.State.Active() {
			r.Running++
			r.UsedVCPUs += i.VCPUs
			r.UsedMemoryMiB += i.MemoryMiB
		}
	}
	if r.FreeMemoryMiB < 0 {
		r.FreeMemoryMiB = max(r.MemoryMiB-r.UsedMemoryMiB, 0)
	}
	return r, nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
