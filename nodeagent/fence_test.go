package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// hungDriver stands for a hypervisor daemon that stopped answering (libvirtd
// under SIGSTOP): every call blocks until its context ends. It wraps the fake
// hypervisor, so what ran before the hang is real fake state.
type hungDriver struct {
	hv.Driver
	hung bool
}

func (h *hungDriver) List(ctx context.Context) ([]hv.DomainInfo, error) {
	if h.hung {
		<-ctx.Done()
		return nil, fmt.Errorf("hung: %w", hv.ErrHypervisorDown)
	}
	return h.Driver.List(ctx)
}

func (h *hungDriver) Destroy(ctx context.Context, name string) error {
	if h.hung {
		<-ctx.Done()
		return fmt.Errorf("hung: %w", hv.ErrHypervisorDown)
	}
	return h.Driver.Destroy(ctx, name)
}

// guestProcess starts a real process standing for domain name's guest and
// writes its pid file into dir, as libvirt does.
func guestProcess(t *testing.T, dir, name string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	if err := os.WriteFile(filepath.Join(dir, name+".pid"), fmt.Appendf(nil, "%d", cmd.Process.Pid), 0o644); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func runningFake(t *testing.T, names ...string) *fake.Driver {
	t.Helper()
	d := fake.New(fake.Options{})
	ctx := context.Background()
	for _, n := range names {
		if err := d.Define(ctx, hv.DomainSpec{Name: n, VCPUs: 1, MemoryMiB: 64}); err != nil {
			t.Fatal(err)
		}
		if err := d.Start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for pidRunning(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("guest process %d still runs after %v", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFenceHypervisorAnswers(t *testing.T) {
	d := runningFake(t, "g1", "g2")
	f := newFencer(d, FenceConfig{PidDirs: []string{t.TempDir()}}, keys.NewLeaseTiming(3*time.Second), slog.New(slog.DiscardHandler))
	if err := f.fence(); err != nil {
		t.Fatalf("fence: %v", err)
	}
	doms, _ := d.List(context.Background())
	for _, dm := range doms {
		if dm.State.Active() {
			t.Errorf("%s still %s", dm.Name, dm.State)
		}
	}
	if !f.isClean() || !f.safe() {
		t.Error("a verified fence is not recorded clean")
	}
}

// TestFenceHypervisorHung: the hypervisor stops answering after the fencer
// saw g1 and g2 run; the fence kills their processes from the pid files and
// is done within FenceTimeout.
func TestFenceHypervisorHung(t *testing.T) {
	dir := t.TempDir()
	h := &hungDriver{Driver: runningFake(t, "g1", "g2")}
	timing := keys.NewLeaseTiming(3 * time.Second)
	f := newFencer(h, FenceConfig{PidDirs: []string{dir}}, timing, slog.New(slog.DiscardHandler))
	f.observe()
	g1, g2 := guestProcess(t, dir, "g1"), guestProcess(t, dir, "g2")
	h.hung = true
	start := time.Now()
	if err := f.fence(); err != nil {
		t.Fatalf("fence: %v", err)
	}
	took := time.Since(start)
	for _, g := range []*exec.Cmd{g1, g2} {
		waitGone(t, g.Process.Pid, time.Second)
	}
	if took > timing.FenceTimeout+time.Second {
		t.Errorf("fence took %v, timeout %v", took, timing.FenceTimeout)
	}
	t.Logf("fence with a hung hypervisor: %v (hypervisor deadline %v)", took.Round(time.Millisecond), timing.HypervisorDeadline())
}

// TestFenceNeverClaimsUnverified: with the hypervisor down, a guest seen
// running that has no pid file (or a hypervisor never listed) makes the
// fence fail, and the node is not safe for a new lease.
func TestFenceNeverClaimsUnverified(t *testing.T) {
	dir := t.TempDir()
	timing := keys.NewLeaseTiming(3 * time.Second)
	d := runningFake(t, "g1", "g2")
	f := newFencer(d, FenceConfig{PidDirs: []string{dir}}, timing, slog.New(slog.DiscardHandler))
	f.observe()
	guestProcess(t, dir, "g1") // g2 has no pid file
	d.SetDown(true)
	if err := f.fence(); !errors.Is(err, errNotFenced) {
		t.Fatalf("fence with g2 unaccounted for: %v, want errNotFenced", err)
	}
	if f.safe() || f.isClean() || f.mayPet() {
		t.Error("an unverified fence left the node safe, clean or petting the watchdog")
	}

	never := newFencer(runningFake(t, "g3"), FenceConfig{PidDirs: []string{t.TempDir()}}, timing, slog.New(slog.DiscardHandler))
	never.drv.(*fake.Driver).SetDown(true)
	if err := never.fence(); !errors.Is(err, errNotFenced) {
		t.Fatalf("fence of a never listed hypervisor: %v, want errNotFenced", err)
	}
}

// TestFenceStalePidFile: a pid file whose pid now belongs to a process that
// started after the file was written is not killed.
func TestFenceStalePidFile(t *testing.T) {
	dir := t.TempDir()
	g := guestProcess(t, dir, "old")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "old.pid"), old, old); err != nil {
		t.Fatal(err)
	}
	gone, err := killGuests([]string{dir}, time.Now().Add(time.Second), slog.New(slog.DiscardHandler))
	if err != nil || len(gone) != 1 {
		t.Fatalf("killGuests: %v %v", gone, err)
	}
	if !pidRunning(g.Process.Pid) {
		t.Fatal("a process younger than its pid file was killed")
	}
}

// TestWatchdogPetsOnlyWhileTrusted drives the watchdog rule with a plain
// file standing for the device (the real /dev/watchdog would reset this
// machine): pets while the lease is trusted, none after it is not, the magic
// close at a clean stop.
func TestWatchdogPetsOnlyWhileTrusted(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	timing := keys.NewLeaseTiming(2 * time.Second)
	timing.WatchdogTimeout = 250 * time.Millisecond // pets every 50 ms
	f := newFencer(nil, FenceConfig{Watchdog: dev}, timing, slog.New(slog.DiscardHandler))
	if err := f.arm(); err != nil {
		t.Fatal(err)
	}
	if ws := f.watchdogStatus(); ws == nil || ws.Device != dev {
		t.Fatalf("watchdog status %+v", ws)
	}
	size := func() int64 { fi, _ := os.Stat(dev); return fi.Size() }
	var trusted atomic.Bool
	trusted.Store(true)
	f.hold(trusted.Load)
	waitSize := func(min int64) {
		deadline := time.Now().Add(5 * time.Second)
		for size() < min {
			if time.Now().After(deadline) {
				t.Fatalf("watchdog written %d bytes, want >= %d", size(), min)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSize(3) // the pet at open and two more
	trusted.Store(false)
	time.Sleep(2 * timing.WatchdogTimeout / 5)
	n := size()
	time.Sleep(timing.WatchdogTimeout)
	if size() != n {
		t.Fatalf("watchdog petted while the lease was not trusted: %d -> %d bytes", n, size())
	}
	f.disarm()
	b, _ := os.ReadFile(dev)
	if len(b) == 0 || b[len(b)-1] != 'V' {
		t.Fatalf("no magic close: %q", b)
	}
}
