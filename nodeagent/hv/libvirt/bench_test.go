package libvirt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/hv/libvirt"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

// BenchmarkDefineStartKVM measures define + start of a QEMU domain with a
// file disk and direct kernel boot (not the guest's boot), then destroy and
// undefine, through a private libvirtd.
func BenchmarkDefineStartKVM(b *testing.B) {
	hvtest.NeedBinaries(b, "qemu-system-x86_64")
	dmn := hvtest.StartDaemon(b, libvirtd.Options{})
	kernel, initrd := hvtest.Kernel(b), hvtest.Initramfs(b)
	d, err := libvirt.New(context.Background(), libvirt.Options{Kind: hv.KindKVM, URI: dmn.URI("qemu")})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	dir := b.TempDir()
	disk := filepath.Join(dir, "disk0.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(disk, 1<<30); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("bench%d", i)
		spec := hv.DomainSpec{Name: name, Kind: hv.KindKVM, VCPUs: 1, MemoryMiB: 256,
			Disks: []hv.Disk{{Path: disk}}, NICs: []hv.NIC{{MAC: hvtest.MAC(i)}},
			ConsoleLog: filepath.Join(dir, name+".log"), Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0 quiet"}
		if err := d.Define(ctx, spec); err != nil {
			b.Fatal(err)
		}
		if err := d.Start(ctx, name); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := d.Destroy(ctx, name); err != nil {
			b.Fatal(err)
		}
		if err := d.Undefine(ctx, name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
