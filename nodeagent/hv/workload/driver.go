package workload

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drover-project/drover/nodeagent/hv"
)

// Options configure a Driver.
type Options struct {
	// Dir keeps one directory per domain: spec.json, pid, console.log,
	// acks.json. Required.
	Dir string
	// Command starts an instance process; the driver appends --device,
	// --acks and --interval. Default: this executable's "workload-run".
	Command []string
	// Interval between records (default 20 ms).
	Interval time.Duration
	// CPUs and MemoryMiB the node offers (default: the host's).
	CPUs      int
	MemoryMiB int64
	Logger    *slog.Logger
}

// Driver runs instances as writer processes. Domains survive a restart of
// the agent: definitions are files, and a running process is found again by
// its pid file.
type Driver struct {
	o   Options
	log *slog.Logger

	mu    sync.Mutex
	procs map[string]*proc // started by this driver
}

type proc struct {
	pid  int
	done chan struct{} // closed when our child exited (nil: adopted)
}

var _ hv.Driver = (*Driver)(nil)

// New returns a driver over o.Dir.
func New(o Options) (*Driver, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("workload: a state directory is required: %w", hv.ErrInvalidSpec)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	if len(o.Command) == 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("workload: %w", err)
		}
		o.Command = []string{self, "workload-run"}
	}
	if o.Interval <= 0 {
		o.Interval = 20 * time.Millisecond
	}
	if o.CPUs <= 0 {
		o.CPUs = runtime.NumCPU()
	}
	if o.MemoryMiB <= 0 {
		o.MemoryMiB = hostMemoryMiB()
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Driver{o: o, log: log, procs: map[string]*proc{}}, nil
}

func hostMemoryMiB() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 1024
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb / 1024
		}
	}
	return 1024
}

// Name is hv.KindWorkload.
func (d *Driver) Name() hv.Kind { return hv.KindWorkload }

func (d *Driver) dir(name string) string      { return filepath.Join(d.o.Dir, name) }
func (d *Driver) specFile(name string) string { return filepath.Join(d.dir(name), "spec.json") }
func (d *Driver) pidFile(name string) string  { return filepath.Join(d.dir(name), "pid") }

// AckFile is where instance name's process reports its acknowledgements.
func (d *Driver) AckFile(name string) string { return filepath.Join(d.dir(name), "acks.json") }

func (d *Driver) consoleLog(s hv.DomainSpec) string {
	if s.ConsoleLog != "" {
		return s.ConsoleLog
	}
	return filepath.Join(d.dir(s.Name), "console.log")
}

func (d *Driver) readSpec(name string) (hv.DomainSpec, error) {
	var s hv.DomainSpec
	b, err := os.ReadFile(d.specFile(name))
	if errors.Is(err, fs.ErrNotExist) || filepath.Base(name) != name || name == "" {
		return s, fmt.Errorf("workload: domain %q: %w", name, hv.ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("workload: %w", err)
	}
	return s, json.Unmarshal(b, &s)
}

// Define records the domain. It needs one disk: the device the records go to.
func (d *Driver) Define(ctx context.Context, spec hv.DomainSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	if len(spec.Disks) == 0 {
		return fmt.Errorf("workload: domain %q: a workload needs a disk: %w", spec.Name, hv.ErrInvalidSpec)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := os.Stat(d.specFile(spec.Name)); err == nil {
		return fmt.Errorf("workload: domain %q: %w", spec.Name, hv.ErrAlreadyExists)
	}
	if spec.UUID == "" {
		spec.UUID = newUUID()
	}
	if err := os.MkdirAll(d.dir(spec.Name), 0o755); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	b, _ := json.MarshalIndent(spec, "", "  ")
	tmp := d.specFile(spec.Name) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	return os.Rename(tmp, d.specFile(spec.Name))
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Undefine removes a stopped domain's files (not its disk).
func (d *Driver) Undefine(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.readSpec(name); err != nil {
		return err
	}
	if d.runningLocked(name) {
		return fmt.Errorf("workload: undefine %q: running: %w", name, hv.ErrWrongState)
	}
	return os.RemoveAll(d.dir(name))
}

// runningLocked reports whether name's process lives.
func (d *Driver) runningLocked(name string) bool {
	if p := d.procs[name]; p != nil && p.done != nil {
		select {
		case <-p.done:
			delete(d.procs, name)
		default:
			return true
		}
	}
	pid, start, err := readPid(d.pidFile(name))
	if err != nil {
		return false
	}
	return alive(pid, start)
}

// Start runs the domain's writer process.
func (d *Driver) Start(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	spec, err := d.readSpec(name)
	if err != nil {
		return err
	}
	if d.runningLocked(name) {
		return fmt.Errorf("workload: start %q: already running: %w", name, hv.ErrWrongState)
	}
	if used := d.usedMemoryLocked(); used+spec.MemoryMiB > d.o.MemoryMiB {
		return fmt.Errorf("workload: start %q: %d MiB wanted, %d free: %w", name, spec.MemoryMiB, d.o.MemoryMiB-used, hv.ErrInsufficientResources)
	}
	logf, err := os.OpenFile(d.consoleLog(spec), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("workload: console log: %w", err)
	}
	defer logf.Close()
	args := append(slices.Clone(d.o.Command[1:]), "--device", spec.Disks[0].Path, "--acks", d.AckFile(name), "--interval", d.o.Interval.String(), "--instance-uuid", spec.UUID)
	cmd := exec.Command(d.o.Command[0], args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("workload: start %q: %w", name, err)
	}
	p := &proc{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	d.procs[name] = p
	if err := writePid(d.pidFile(name), p.pid); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	d.log.Info("workload_started", "domain", name, "pid", p.pid, "device", spec.Disks[0].Path)
	return nil
}

// signal sends sig to name's process; ErrWrongState when none runs.
func (d *Driver) signal(name string, sig syscall.Signal) (pid int, done chan struct{}, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.readSpec(name); err != nil {
		return 0, nil, err
	}
	if !d.runningLocked(name) {
		return 0, nil, fmt.Errorf("workload: %q is not running: %w", name, hv.ErrWrongState)
	}
	pid, _, _ = readPid(d.pidFile(name))
	if p := d.procs[name]; p != nil {
		pid, done = p.pid, p.done
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return 0, nil, fmt.Errorf("workload: signal %q: %w", name, err)
	}
	return pid, done, nil
}

// waitExit waits until the process is gone or timeout passes.
func (d *Driver) waitExit(ctx context.Context, name string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		d.mu.Lock()
		run := d.runningLocked(name)
		d.mu.Unlock()
		if !run {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Shutdown asks the writer to stop (SIGTERM: it finishes the record in
// flight and reports its last ack).
func (d *Driver) Shutdown(ctx context.Context, name string, timeout time.Duration) error {
	if _, _, err := d.signal(name, syscall.SIGTERM); err != nil {
		return err
	}
	if !d.waitExit(ctx, name, timeout) {
		return fmt.Errorf("workload: shutdown %q: %w", name, hv.ErrTimeout)
	}
	return nil
}

// Destroy kills the writer at once (a record in flight is not acknowledged).
func (d *Driver) Destroy(ctx context.Context, name string) error {
	if _, _, err := d.signal(name, syscall.SIGKILL); err != nil {
		return err
	}
	if !d.waitExit(ctx, name, 10*time.Second) {
		return fmt.Errorf("workload: destroy %q: still alive: %w", name, hv.ErrTimeout)
	}
	return nil
}

// Reboot restarts the writer (it continues after its highest record).
func (d *Driver) Reboot(ctx context.Context, name string) error {
	if err := d.Shutdown(ctx, name, 10*time.Second); err != nil {
		return err
	}
	return d.Start(ctx, name)
}

// State is running or stopped.
func (d *Driver) State(ctx context.Context, name string) (hv.DomainState, error) {
	if err := ctx.Err(); err != nil {
		return hv.StateUnknown, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.readSpec(name); err != nil {
		return hv.StateUnknown, err
	}
	if d.runningLocked(name) {
		return hv.StateRunning, nil
	}
	return hv.StateStopped, nil
}

// List reports every defined domain, sorted by name.
func (d *Driver) List(ctx context.Context) ([]hv.DomainInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listLocked()
}

func (d *Driver) listLocked() ([]hv.DomainInfo, error) {
	ents, err := os.ReadDir(d.o.Dir)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	var out []hv.DomainInfo
	for _, e := range ents {
		s, err := d.readSpec(e.Name())
		if err != nil {
			continue
		}
		st := hv.StateStopped
		if d.runningLocked(s.Name) {
			st = hv.StateRunning
		}
		out = append(out, hv.DomainInfo{Name: s.Name, UUID: s.UUID, State: st, VCPUs: s.VCPUs, MemoryMiB: s.MemoryMiB})
	}
	slices.SortFunc(out, func(a, b hv.DomainInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (d *Driver) usedMemoryLocked() int64 {
	l, _ := d.listLocked()
	var n int64
	for _, i := range l {
		if i.State.Active() {
			n += i.MemoryMiB
		}
	}
	return n
}

// Resources: the configured CPUs and memory, what running domains claim.
func (d *Driver) Resources(ctx context.Context) (hv.NodeResources, error) {
	l, err := d.List(ctx)
	if err != nil {
		return hv.NodeResources{}, err
	}
	r := hv.NodeResources{CPUs: d.o.CPUs, MemoryMiB: d.o.MemoryMiB, Domains: len(l)}
	for _, i := range l {
		if i.State.Active() {
			r.Running++
			r.UsedVCPUs += i.VCPUs
			r.UsedMemoryMiB += i.MemoryMiB
		}
	}
	r.FreeMemoryMiB = max(0, r.MemoryMiB-r.UsedMemoryMiB)
	return r, nil
}

// Console opens the domain's console log (the writer's output).
func (d *Driver) Console(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := d.readSpec(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(d.consoleLog(s))
	if errors.Is(err, fs.ErrNotExist) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	return f, err
}

// Close does not stop the writers.
func (d *Driver) Close() error { return nil }
