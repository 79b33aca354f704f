package libvirtd_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

// requireDaemon skips (or, with DROVER_REQUIRE_REAL set, fails) when a
// private libvirtd cannot run here.
func requireDaemon(t *testing.T) {
	t.Helper()
	if err := libvirtd.Check(); err != nil {
		realtest.Need(t, "%v", err)
	}
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "lvd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func virsh(t *testing.T, uri string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "virsh", append([]string{"-c", uri}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestTwoDaemonsIsolated starts two daemons and checks that a domain defined
// on one is invisible on the other, that each has its own host UUID, and
// that Stop leaves no process behind.
func TestTwoDaemonsIsolated(t *testing.T) {
	requireDaemon(t)
	ctx := context.Background()
	var ds []*libvirtd.Daemon
	for i := range 2 {
		d, err := libvirtd.Start(ctx, libvirtd.Options{
			Dir: shortDir(t), ListenAddr: fmt.Sprintf("127.0.0.%d", 2+i), TCPPort: 16600 + i,
			HostUUID:  fmt.Sprintf("aaaaaaaa-0000-4000-8000-00000000000%d", i+1),
			Logger:    slog.New(slog.NewTextHandler(os.Stderr, nil)),
			CapsCache: filepath.Join(hvtest.CacheDir(t), "libvirt-qemu-caps"),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Stop() })
		ds = append(ds, d)
	}
	xml := filepath.Join(ds[0].Dir(), "d.xml")
	os.WriteFile(xml, []byte(`<domain type="qemu"><name>iso1</name><memory unit="MiB">64</memory><os><type arch="x86_64">hvm</type></os></domain>`), 0o644)
	virsh(t, ds[0].URI("qemu"), "define", xml)
	if out := virsh(t, ds[0].URI("qemu"), "list", "--all", "--name"); !strings.Contains(out, "iso1") {
		t.Errorf("daemon 0 lacks its domain: %q", out)
	}
	if out := virsh(t, ds[1].TCPURI("qemu"), "list", "--all", "--name"); strings.Contains(out, "iso1") {
		t.Errorf("daemon 1 sees daemon 0's domain: %q", out)
	}
	if out := virsh(t, ds[1].TCPURI("qemu"), "uri"); !strings.Contains(out, "qemu+tcp://127.0.0.3") {
		t.Errorf("tcp uri: %q", out)
	}
	caps := virsh(t, ds[1].URI("qemu"), "capabilities")
	if !strings.Contains(caps, ds[1].HostUUID()) {
		t.Errorf("daemon 1 host uuid not %s", ds[1].HostUUID())
	}
	pid := ds[0].PID()
	if err := ds[0].Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("libvirtd pid %d still exists after Stop", pid)
	}
	// The host's own /run/libvirt is untouched by the namespaces.
	if _, err := os.Stat("/var/lib/libvirt/qemu/iso1.xml"); err == nil {
		t.Error("domain leaked to host /var/lib/libvirt")
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := libvirtd.Start(context.Background(), libvirtd.Options{}); err == nil {
		t.Fatal("Start without Dir succeeded")
	}
}

// TestSuperviseRestarts kills a supervised libvirtd with SIGKILL from
// outside (as kill -9 would): the supervisor starts a new one in the same
// namespace that answers on the same socket; after Stop nothing restarts.
func TestSuperviseRestarts(t *testing.T) {
	requireDaemon(t)
	d, err := libvirtd.Start(context.Background(), libvirtd.Options{Dir: shortDir(t), Supervise: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop() })
	for round := 1; round <= 2; round++ {
		old := d.PID()
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		// Done when the supervisor counts the restart (its start-up check
		// passed) and the new daemon answers: a daemon that answers virsh
		// before the supervisor's own check returned is still starting
		// (killing it then made the start fail, seen in CI).
		realtest.WaitFor(t, 60*time.Second, "a new libvirtd answers", func() bool {
			if p := d.PID(); p == 0 || p == old || d.Restarts() < round {
				return false
			}
			_, err := exec.Command("virsh", "-c", d.URI("test"), "version").CombinedOutput()
			return err == nil
		})
		t.Logf("round %d: libvirtd %d killed, %d answers %s later", round, old, d.PID(), time.Since(killed).Round(time.Millisecond))
		if got := d.Restarts(); got != round {
			t.Errorf("restarts %d after %d kills", got, round)
		}
	}
	last := d.PID()
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", last)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("libvirtd %d still exists after Stop", last)
	}
	if d.PID() != 0 || d.Restarts() != 2 {
		t.Errorf("after Stop: pid %d, restarts %d", d.PID(), d.Restarts())
	}
}
