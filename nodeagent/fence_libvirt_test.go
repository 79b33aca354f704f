package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/hv/libvirt"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

// TestFenceHungLibvirtd: a real QEMU guest under a private libvirtd; libvirtd
// is stopped with SIGSTOP; the fence cannot ask it, kills the guest's QEMU
// process from libvirt's pid file, and reports the fence done.
func TestFenceHungLibvirtd(t *testing.T) {
	hvtest.NeedBinaries(t, "qemu-system-x86_64")
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := libvirt.New(ctx, libvirt.Options{Kind: hv.KindKVM, URI: dmn.URI("qemu"), Logger: hvtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk0.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 16<<20); err != nil {
		t.Fatal(err)
	}
	// No bootable disk: the firmware keeps QEMU running, looking for one.
	spec := hv.DomainSpec{Name: "fence-hung", Kind: hv.KindKVM, VCPUs: 1, MemoryMiB: 64,
		Disks: []hv.Disk{{Path: disk}}, ConsoleLog: filepath.Join(dir, "console.log")}
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Destroy(context.Background(), spec.Name) }()
	// libvirtd runs in its own mount namespace: its /run/libvirt is seen
	// through its root.
	pidDir := filepath.Join("/proc", strconv.Itoa(dmn.PID()), "root/run/libvirt/qemu")
	b, err := os.ReadFile(filepath.Join(pidDir, spec.Name+".pid"))
	if err != nil {
		t.Fatal(err)
	}
	qemu, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !pidRunning(qemu) {
		t.Fatalf("qemu pid %q: %v", b, err)
	}
	timing := keys.NewLeaseTiming(3 * time.Second)
	f := newFencer(d, FenceConfig{PidDirs: []string{pidDir}}, timing, hvtest.Logger(t))
	f.observe()
	if err := dmn.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = dmn.Signal(syscall.SIGCONT)
		}
	}
	defer resume()
	start := time.Now()
	if err := f.fence(); err != nil {
		t.Fatalf("fence with libvirtd stopped: %v", err)
	}
	if pidRunning(qemu) {
		t.Fatalf("qemu %d still runs after the fence", qemu)
	}
	t.Logf("fence with libvirtd under SIGSTOP: qemu %d gone in %v", qemu, time.Since(start).Round(time.Millisecond))
	resume()
	waitState := time.Now().Add(30 * time.Second)
	for {
		st, err := d.State(ctx, spec.Name)
		if err == nil && !st.Active() {
			break
		}
		if time.Now().After(waitState) {
			t.Fatalf("libvirt still reports %s (%v) after SIGCONT", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
