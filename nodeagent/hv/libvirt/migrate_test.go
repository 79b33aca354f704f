package libvirt_test

import (
	"context"
	"errors"
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
}
