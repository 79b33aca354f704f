package fake

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/drover-project/drover/nodeagent/hv"
)

// Options configure a fake hypervisor.
type Options struct {
	// CPUs and MemoryMiB are the node's capacity; defaults 4 and 8192.
	CPUs      int
	MemoryMiB int64
	// Overcommit lets running domains use more memory than the node has.
	Overcommit bool
	// Logger; nil discards.
	Logger *slog.Logger
}

type domain struct {
	spec       hv.DomainSpec
	state      hv.DomainState
	console    bytes.Buffer
	ignoreACPI bool
	boots      int
}

// Driver is the fake hypervisor. The zero value is not usable; call New.
type Driver struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	doms   map[string]*domain
	subs   map[chan hv.Event]struct{}
	down   bool
	closed bool
}

var (
	_ hv.Driver         = (*Driver)(nil)
	_ hv.EventSource    = (*Driver)(nil)
	_ hv.HealthReporter = (*Driver)(nil)
)

// New returns an empty fake hypervisor.
func New(opts Options) *Driver {
	if opts.CPUs <= 0 {
		opts.CPUs = 4
	}
	if opts.MemoryMiB <= 0 {
		opts.MemoryMiB = 8192
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Driver{opts: opts, log: lg.With("hypervisor", "fake"), doms: map[string]*domain{}, subs: map[chan hv.Event]struct{}{}}
}

// Name implements hv.Driver.
func (d *Driver) Name() hv.Kind { return hv.KindFake }

// SetDown simulates a failed hypervisor: every call returns ErrHypervisorDown
// until SetDown(false).
func (d *Driver) SetDown(down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = down
}

// IgnoreShutdown makes the named domain's guest ignore graceful shutdown
// requests, as a hung guest would.
func (d *Driver) IgnoreShutdown(name string, ignore bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dom, ok := d.doms[name]
	if !ok {
		return fmt.Errorf("fake: %q: %w", name, hv.ErrNotFound)
	}
	dom.ignoreACPI = ignore
	return nil
}

// Crash makes a running domain stop as if its guest crashed.
func (d *Driver) Crash(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dom, ok := d.doms[name]
	if !ok {
		return fmt.Errorf("fake: crash %q: %w", name, hv.ErrNotFound)
	}
	if !dom.state.Active() {
		return fmt.Errorf("fake: crash %q: %w", name, hv.ErrWrongState)
	}
	dom.state = hv.StateStopped
	d.emit(dom, hv.EventCrashed, hv.StateStopped)
	return nil
}

// Health implements hv.HealthReporter.
func (d *Driver) Health() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.check()
}

func (d *Driver) check() error {
	if d.closed {
		return fmt.Errorf("fake: driver closed: %w", hv.ErrHypervisorDown)
	}
	if d.down {
		return fmt.Errorf("fake: hypervisor marked down: %w", hv.ErrHypervisorDown)
	}
	return nil
}

// lookup locks d and returns the named domain; the caller must unlock.
func (d *Driver) lookup(ctx context.Context, op, name string) (*domain, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fake: %s %q: %w", op, name, err)
	}
	d.mu.Lock()
	if err := d.check(); err != nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("fake: %s %q: %w", op, name, err)
	}
	dom, ok := d.doms[name]
	if !ok {
		d.mu.Unlock()
		return nil, fmt.Errorf("fake: %s %q: %w", op, name, hv.ErrNotFound)
	}
	return dom, nil
}

// Define implements hv.Driver.
func (d *Driver) Define(ctx context.Context, spec hv.DomainSpec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	if spec.Kind != "" && spec.Kind != hv.KindFake {
		return fmt.Errorf("fake: define %q: hypervisor kind %q on a fake node: %w", spec.Name, spec.Kind, hv.ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: define %q: %w", spec.Name, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return fmt.Errorf("fake: define %q: %w", spec.Name, err)
	}
	if _, ok := d.doms[spec.Name]; ok {
		return fmt.Errorf("fake: define %q: %w", spec.Name, hv.ErrAlreadyExists)
	}
	if spec.UUID == "" {
		spec.UUID = newUUID()
	}
	for _, o := range d.doms {
		if o.spec.UUID == spec.UUID {
			return fmt.Errorf("fake: define %q: uuid %s used by %q: %w", spec.Name, spec.UUID, o.spec.Name, hv.ErrAlreadyExists)
		}
	}
	spec.Disks = append([]hv.Disk(nil), spec.Disks...)
	spec.NICs = append([]hv.NIC(nil), spec.NICs...)
	dom := &domain{spec: spec, state: hv.StateStopped}
	d.doms[spec.Name] = dom
	d.log.Debug("domain_defined", "domain", spec.Name)
	d.emit(dom, hv.EventDefined, hv.StateStopped)
	return nil
}

// Undefine implements hv.Driver.
func (d *Driver) Undefine(ctx context.Context, name string) error {
	dom, err := d.lookup(ctx, "undefine", name)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if dom.state.Active() {
		return fmt.Errorf("fake: undefine %q: domain is %s: %w", name, dom.state, hv.ErrWrongState)
	}
	delete(d.doms, name)
	d.emit(dom, hv.EventUndefined, hv.StateStopped)
	return nil
}

func (d *Driver) usedLocked() (vcpus int, mem int64, running int) {
	for _, o := range d.doms {
		if o.state.Active() {
			vcpus += o.spec.VCPUs
			mem += o.spec.MemoryMiB
			running++
		}
	}
	return
}

// Start implements hv.Driver.
func (d *Driver) Start(ctx context.Context, name string) error {
	dom, err := d.lookup(ctx, "start", name)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if dom.state.Active() {
		return fmt.Errorf("fake: start %q: domain is %s: %w", name, dom.state, hv.ErrWrongState)
	}
	if _, mem, _ := d.usedLocked(); !d.opts.Overcommit && mem+dom.spec.MemoryMiB > d.opts.MemoryMiB {
		return fmt.Errorf("fake: start %q: needs %d MiB, %d MiB free: %w", name, dom.spec.MemoryMiB, d.opts.MemoryMiB-mem, hv.ErrInsufficientResources)
	}
	dom.state = hv.StateRunning
	dom.boots++
	d.console(dom, fmt.Sprintf("fake: boot %d of %s\n%s login: \n", dom.boots, name, name))
	d.emit(dom, hv.EventStarted, hv.StateRunning)
	return nil
}

func (d *Driver) console(dom *domain, s string) {
	dom.console.WriteString(s)
	if p := dom.spec.ConsoleLog; p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			d.log.Warn("console_log_write_failed", "domain", dom.spec.Name, "err", err)
			return
		}
		_, _ = f.WriteString(s)
		_ = f.Close()
	}
}

// Shutdown implements hv.Driver. A fake guest obeys at once unless told to
// ignore shutdown requests, in which case Shutdown waits out the timeout.
func (d *Driver) Shutdown(ctx context.Context, name string, timeout time.Duration) error {
	dom, err := d.lookup(ctx, "shutdown", name)
	if err != nil {
		return err
	}
	if !dom.state.Active() {
		d.mu.Unlock()
		return fmt.Errorf("fake: shutdown %q: domain is %s: %w", name, dom.state, hv.ErrWrongState)
	}
	if !dom.ignoreACPI {
		dom.state = hv.StateStopped
		d.console(dom, "fake: power down\n")
		d.emit(dom, hv.EventStopped, hv.StateStopped)
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-t.C:
		return fmt.Errorf("fake: shutdown %q: guest still running after %s: %w", name, timeout, hv.ErrTimeout)
	case <-ctx.Done():
		return fmt.Errorf("fake: shutdown %q: %w", name, ctx.Err())
	}
}

// Destroy implements hv.Driver.
func (d *Driver) Destroy(ctx context.Context, name string) error {
	dom, err := d.lookup(ctx, "destroy", name)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if !dom.state.Active() {
		return fmt.Errorf("fake: destroy %q: domain is %s: %w", name, dom.state, hv.ErrWrongState)
	}
	dom.state = hv.StateStopped
	d.emit(dom, hv.EventStopped, hv.StateStopped)
	return nil
}

// Reboot implements hv.Driver.
func (d *Driver) Reboot(ctx context.Context, name string) error {
	dom, err := d.lookup(ctx, "reboot", name)
	if err != nil {
		return err
	}
	defer d.mu.Unlock()
	if dom.state != hv.StateRunning {
		return fmt.Errorf("fake: reboot %q: domain is %s: %w", name, dom.state, hv.ErrWrongState)
	}
	dom.boots++
	d.console(dom, fmt.Sprintf("fake: reboot\nfake: boot %d of %s\n%s login: \n", dom.boots, name, name))
	return nil
}

// State implements hv.Driver.
func (d *Driver) State(ctx context.Context, name string) (hv.DomainState, error) {
	dom, err := d.lookup(ctx, "state", name)
	if err != nil {
		return hv.StateUnknown, err
	}
	defer d.mu.Unlock()
	return dom.state, nil
}

// List implements hv.Driver.
func (d *Driver) List(ctx context.Context) ([]hv.DomainInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fake: list: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("fake: list: %w", err)
	}
	out := make([]hv.DomainInfo, 0, len(d.doms))
	for _, o := range d.doms {
		out = append(out, hv.DomainInfo{Name: o.spec.Name, UUID: o.spec.UUID, State: o.state, VCPUs: o.spec.VCPUs, MemoryMiB: o.spec.MemoryMiB})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Resources implements hv.Driver.
func (d *Driver) Resources(ctx context.Context) (hv.NodeResources, error) {
	if err := ctx.Err(); err != nil {
		return hv.NodeResources{}, fmt.Errorf("fake: resources: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return hv.NodeResources{}, fmt.Errorf("fake: resources: %w", err)
	}
	vcpus, mem, running := d.usedLocked()
	return hv.NodeResources{
		CPUs: d.opts.CPUs, MemoryMiB: d.opts.MemoryMiB, FreeMemoryMiB: max(d.opts.MemoryMiB-mem, 0),
		UsedVCPUs: vcpus, UsedMemoryMiB: mem, Domains: len(d.doms), Running: running,
	}, nil
}

// Console implements hv.Driver: a snapshot of everything the guest printed.
func (d *Driver) Console(ctx context.Context, name string) (io.ReadCloser, error) {
	dom, err := d.lookup(ctx, "console", name)
	if err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	return io.NopCloser(bytes.NewReader(bytes.Clone(dom.console.Bytes()))), nil
}

// Events implements hv.EventSource.
func (d *Driver) Events(ctx context.Context) (<-chan hv.Event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("fake: events: %w", err)
	}
	ch := make(chan hv.Event, 256)
	d.subs[ch] = struct{}{}
	go func() {
		<-ctx.Done()
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.subs[ch]; ok {
			delete(d.subs, ch)
			close(ch)
		}
	}()
	return ch, nil
}

// emit sends an event to every subscriber; d.mu must be held. A subscriber
// that does not keep up loses events (as with libvirt), never blocks the driver.
func (d *Driver) emit(dom *domain, typ hv.EventType, st hv.DomainState) {
	ev := hv.Event{Domain: dom.spec.Name, UUID: dom.spec.UUID, Type: typ, State: st, Time: time.Now()}
	for ch := range d.subs {
		select {
		case ch <- ev:
		default:
			d.log.Warn("event_dropped", "domain", ev.Domain, "event", string(typ))
		}
	}
}

// Close implements hv.Driver: closes event channels; later calls fail with
// ErrHypervisorDown.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for ch := range d.subs {
		delete(d.subs, ch)
		close(ch)
	}
	return nil
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
