package libvirt_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/hv/libvirt"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

// TestMigrate live-migrates a TCG guest between two private libvirtds (two
// simulated nodes) through hv.Migrator.
func TestMigrate(t *testing.T) {
	hvtest.NeedBinaries(t, "qemu-system-x86_64")
	src := hvtest.StartDaemon(t, libvirtd.Options{ListenAddr: "127.0.0.2", TCPPort: 16720, HostUUID: "aaaaaaaa-0000-4000-8000-0000000000a1"})
	dst := hvtest.StartDaemon(t, libvirtd.Options{ListenAddr: "127.0.0.3", TCPPort: 16721, HostUUID: "aaaaaaaa-0000-4000-8000-0000000000a2"})
	kernel, initrd := hvtest.Kernel(t), hvtest.Initramfs(t)
	a := newDriver(t, libvirt.Options{Kind: hv.KindKVM, URI: src.TCPURI("qemu")})
	b := newDriver(t, libvirt.Options{Kind: hv.KindKVM, URI: dst.TCPURI("qemu")})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	spec := hv.DomainSpec{Name: "mig1", Kind: hv.KindKVM, VCPUs: 1, MemoryMiB: 128,
		NICs: []hv.NIC{{MAC: hvtest.MAC(7)}}, ConsoleLog: filepath.Join(t.TempDir(), "console.log"),
		Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0 quiet drover.hostname=mig1"}
	if err := a.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range []hv.Driver{a, b} {
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = d.Destroy(c, spec.Name)
			_ = d.Undefine(c, spec.Name)
			cancel()
		}
	})
	if err := a.Start(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	var m hv.Migrator = a
	start := time.Now()
	err := m.Migrate(ctx, spec.Name, dst.TCPURI("qemu"), hv.MigrateOptions{
		Live: true, ListenAddress: "127.0.0.3", MigrateURI: "tcp://127.0.0.3:49452"})
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	t.Logf("migration took %s", time.Since(start).Round(time.Millisecond))
	if st, err := b.State(ctx, spec.Name); err != nil || st != hv.StateRunning {
		t.Fatalf("on destination: %s, %v; want running", st, err)
	}
	if _, err := a.State(ctx, spec.Name); !errors.Is(err, hv.ErrNotFound) {
		t.Errorf("on source after migration: %v, want ErrNotFound (undefined)", err)
	}
	// Migrating a domain that is not there is ErrNotFound.
	if err := m.Migrate(ctx, spec.Name, dst.TCPURI("qemu"), hv.MigrateOptions{Live: true}); !errors.Is(err, hv.ErrNotFound) {
		t.Errorf("migrate of a missing domain: %v", err)
	}
	// Back with Paused (as the agent migrates): the copy on the source
	// stays paused until Resume; WaitIdle returns on a domain with no job
	// and on one that is gone; Resume of a running domain does nothing.
	var w hv.JobWaiter = b
	if err := w.WaitIdle(ctx, spec.Name); err != nil {
		t.Fatalf("wait idle: %v", err)
	}
	if err := hv.Migrator(b).Migrate(ctx, spec.Name, src.TCPURI("qemu"), hv.MigrateOptions{
		Live: true, ListenAddress: "127.0.0.2", MigrateURI: "tcp://127.0.0.2:49453", Paused: true}); err != nil {
		t.Fatalf("migrate back, paused: %v", err)
	}
	if err := w.WaitIdle(ctx, spec.Name); err != nil {
		t.Errorf("wait idle of a domain that left: %v", err)
	}
	if st, err := a.State(ctx, spec.Name); err != nil || st != hv.StatePaused {
		t.Fatalf("back on the source after a paused migration: %s, %v; want paused", st, err)
	}
	var r hv.Resumer = a
	for i := 0; i < 2; i++ {
		if err := r.Resume(ctx, spec.Name); err != nil {
			t.Fatalf("resume %d: %v", i+1, err)
		}
		if st, err := a.State(ctx, spec.Name); err != nil || st != hv.StateRunning {
			t.Fatalf("after resume %d: %s, %v; want running", i+1, st, err)
		}
	}
	if err := r.Resume(ctx, "no-such-domain"); !errors.Is(err, hv.ErrNotFound) {
		t.Errorf("resume of a missing domain: %v, want ErrNotFound", err)
	}
	// A defined domain that does not run has no job either.
	if err := a.Destroy(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if err := hv.JobWaiter(a).WaitIdle(ctx, spec.Name); err != nil {
		t.Errorf("wait idle of a stopped domain: %v", err)
	}
}

// TestMigrateCopyStorage live-migrates a TCG guest with a file disk to a
// daemon where its files live at other paths: the disk is copied to a
// pre-created file of the same size (non-shared storage), the console log is
// the destination's own, the figures of the migration are read on the
// destination; then the guest is saved to a file and restored on the
// source again (hibernate), its paths replaced back.
func TestMigrateCopyStorage(t *testing.T) {
	hvtest.NeedBinaries(t, "qemu-system-x86_64")
	src := hvtest.StartDaemon(t, libvirtd.Options{ListenAddr: "127.0.0.2", TCPPort: 16722, HostUUID: "aaaaaaaa-0000-4000-8000-0000000000b1"})
	dst := hvtest.StartDaemon(t, libvirtd.Options{ListenAddr: "127.0.0.3", TCPPort: 16723, HostUUID: "aaaaaaaa-0000-4000-8000-0000000000b2"})
	kernel, initrd := hvtest.Kernel(t), hvtest.Initramfs(t)
	a := newDriver(t, libvirt.Options{Kind: hv.KindKVM, URI: src.TCPURI("qemu")})
	b := newDriver(t, libvirt.Options{Kind: hv.KindKVM, URI: dst.TCPURI("qemu")})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The disk lives on a real filesystem (cache=none needs O_DIRECT).
	dirA, dirB := hvtest.ShortTempDir(t), hvtest.ShortTempDir(t)
	diskA, diskB := filepath.Join(dirA, "disk0"), filepath.Join(dirB, "disk0")
	const size = 16 << 20
	data := bytes.Repeat([]byte("drover-migrate-"), 4096)
	if err := os.WriteFile(diskA, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(diskB, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{diskA, diskB} {
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
	}
	spec := hv.DomainSpec{Name: "mig2", UUID: "c059c3aa-9e90-4d32-8ec7-aee8711f0a08", Kind: hv.KindKVM, VCPUs: 1, MemoryMiB: 128,
		Disks:      []hv.Disk{{Path: diskA}},
		ConsoleLog: filepath.Join(dirA, "console.log"),
		Kernel:     kernel, Initrd: initrd, Cmdline: "console=ttyS0 quiet drover.hostname=mig2"}
	if err := a.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range []hv.Driver{a, b} {
			c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = d.Destroy(c, spec.Name)
			_ = d.Undefine(c, spec.Name)
			cancel()
		}
	})
	if err := a.Start(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{diskA: diskB, spec.ConsoleLog: filepath.Join(dirB, "console.log")}
	// What a libvirtd killed during an earlier storage copy leaves in the
	// source QEMU (the copy's block node): Migrate removes it and goes on.
	if out, err := exec.Command("virsh", "-c", src.TCPURI("qemu"), "qemu-monitor-command", spec.Name,
		`{"execute":"blockdev-add","arguments":{"driver":"null-co","node-name":"migration-vda-storage"}}`).CombinedOutput(); err != nil {
		t.Fatalf("add a stale copy node: %v: %s", err, out)
	}
	start := time.Now()
	err := a.Migrate(ctx, spec.Name, dst.TCPURI("qemu"), hv.MigrateOptions{
		Live: true, CopyStorage: true, ListenAddress: "127.0.0.3", MigrateURI: "tcp://127.0.0.3", Paths: paths})
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	t.Logf("migration with storage copy took %s", time.Since(start).Round(time.Millisecond))
	if st, err := b.State(ctx, spec.Name); err != nil || st != hv.StateRunning {
		t.Fatalf("on destination: %s, %v; want running", st, err)
	}
	got, err := os.ReadFile(diskB)
	if err != nil || !bytes.Equal(got[:len(data)], data) {
		t.Fatalf("destination disk does not hold the source's data (%v)", err)
	}
	stats, err := b.LastMigration(ctx, spec.Name)
	if err != nil {
		t.Fatalf("job stats on destination: %v", err)
	}
	t.Logf("libvirt job info: total %s, downtime %s, data %d B (memory %d, disk %d)", stats.Total, stats.Downtime, stats.DataBytes, stats.MemoryBytes, stats.DiskBytes)
	if stats.Total <= 0 || stats.DataBytes == 0 {
		t.Errorf("job stats: %+v", stats)
	}
	rc, err := b.Console(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if _, err := os.Stat(filepath.Join(dirB, "console.log")); err != nil {
		t.Errorf("destination writes no console log of its own: %v", err)
	}

	// Hibernate back: save on b, restore on a with the paths swapped back.
	saved := filepath.Join(dirB, "mig2.state")
	if err := b.Save(ctx, spec.Name, saved); err != nil {
		t.Fatalf("save: %v", err)
	}
	if st, err := b.State(ctx, spec.Name); err != nil || st.Active() {
		t.Fatalf("after save: %s, %v; want stopped", st, err)
	}
	back := map[string]string{diskB: diskA, filepath.Join(dirB, "console.log"): spec.ConsoleLog}
	if err := a.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(ctx, saved, back); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if st, err := a.State(ctx, spec.Name); err != nil || st != hv.StateRunning {
		t.Fatalf("restored: %s, %v; want running", st, err)
	}
}
