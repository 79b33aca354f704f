package libvirt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/hv/libvirt"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

func newDriver(t *testing.T, opts libvirt.Options) *libvirt.Driver {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = hvtest.Logger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := libvirt.New(ctx, opts)
	if err != nil {
		t.Fatalf("libvirt.New(%s): %v", opts.URI, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestConformanceTest runs the suite on libvirt's test hypervisor through a
// real private libvirtd.
func TestConformanceTest(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	hvtest.Run(t, func(t *testing.T) hv.Driver {
		return newDriver(t, libvirt.Options{Kind: hv.KindTest, URI: dmn.URI("test")})
	}, hvtest.Caps{
		Spec: func(t *testing.T, name string) hv.DomainSpec {
			return hv.DomainSpec{Name: name, Kind: hv.KindTest, VCPUs: 2, MemoryMiB: 256,
				Disks: []hv.Disk{{Path: "/nonexistent/" + name + ".img"}}, NICs: []hv.NIC{{MAC: hvtest.MAC(1), Bridge: "br0"}}}
		},
		GracefulShutdown: true, Reboot: true, Console: false, Events: true,
	})
}

// TestConformanceKVM runs the suite on QEMU through a private libvirtd; on
// hosts whose KVM cannot run ordinary guests the driver picks TCG by itself.
// The Console case boots a real kernel with a busybox initramfs.
func TestConformanceKVM(t *testing.T) {
	hvtest.NeedBinaries(t, "qemu-system-x86_64")
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	kernel, initrd := hvtest.Kernel(t), hvtest.Initramfs(t)
	hvtest.Run(t, func(t *testing.T) hv.Driver {
		d := newDriver(t, libvirt.Options{Kind: hv.KindKVM, URI: dmn.URI("qemu")})
		if libvirt.ProbeKVM() != nil && d.DomainType() != "qemu" {
			t.Fatalf("kvm unusable here but domain type %q", d.DomainType())
		}
		return d
	}, hvtest.Caps{
		Spec: func(t *testing.T, name string) hv.DomainSpec {
			dir := t.TempDir()
			disk := filepath.Join(dir, "disk0.img")
			if err := os.WriteFile(disk, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(disk, 16<<20); err != nil {
				t.Fatal(err)
			}
			return hv.DomainSpec{Name: name, Kind: hv.KindKVM, VCPUs: 1, MemoryMiB: 160,
				Disks: []hv.Disk{{Path: disk}}, NICs: []hv.NIC{{MAC: hvtest.MAC(2)}},
				ConsoleLog: filepath.Join(dir, "console.log"),
				Kernel:     kernel, Initrd: initrd, Cmdline: "console=ttyS0 quiet panic=-1 drover.hostname=" + name}
		},
		// The busybox guest does not listen to the ACPI power button.
		GracefulShutdown: false, Reboot: true, Events: true,
		Console: true, ConsoleWant: hvtest.GuestMarker + " hvt-console", ConsoleTimeout: 120 * time.Second,
	})
}

// TestConformanceLXC runs the suite on libvirt's LXC driver with busybox
// containers, in a private libvirtd that works around mixed cgroup layouts.
func TestConformanceLXC(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{LXC: true})
	hvtest.Run(t, func(t *testing.T) hv.Driver {
		return newDriver(t, libvirt.Options{Kind: hv.KindLXC, URI: dmn.URI("lxc")})
	}, hvtest.Caps{
		Spec: func(t *testing.T, name string) hv.DomainSpec {
			root := hvtest.ContainerRoot(t)
			return hv.DomainSpec{Name: name, Kind: hv.KindLXC, VCPUs: 1, MemoryMiB: 64, RootDir: root,
				ConsoleLog: filepath.Join(filepath.Dir(root), "console.log")}
		},
		GracefulShutdown: true, ShutdownTimeout: 8 * time.Second, ReadyWait: 300 * time.Millisecond,
		Reboot: true, Events: true,
		Console: true, ConsoleWant: hvtest.GuestMarker + " hvt-console", ConsoleTimeout: 30 * time.Second,
	})
}

// TestLXCLiveConsole checks the console of a container without a console
// log: a live stream of what it prints from now on.
func TestLXCLiveConsole(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{LXC: true})
	d := newDriver(t, libvirt.Options{Kind: hv.KindLXC, URI: dmn.URI("lxc")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := hv.DomainSpec{Name: "live1", Kind: hv.KindLXC, VCPUs: 1, MemoryMiB: 64, RootDir: hvtest.ContainerRoot(t)}
	if err := d.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.Destroy(ctx, spec.Name); _ = d.Undefine(ctx, spec.Name) }()
	if _, err := d.Console(ctx, spec.Name); !errors.Is(err, hv.ErrWrongState) {
		t.Errorf("live console of a stopped container: %v, want ErrWrongState", err)
	}
	if err := d.Start(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	rc, err := d.Console(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		var sb strings.Builder
		buf := make([]byte, 1024)
		for !strings.Contains(sb.String(), hvtest.GuestTick+" live1") {
			n, err := rc.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		got <- sb.String()
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, hvtest.GuestTick+" live1") {
			t.Errorf("live console: %q", s)
		}
	case <-time.After(15 * time.Second):
		t.Error("no tick on the live console within 15s")
	}
	rc.Close()
}

// TestLXCConsoleReattach checks that a new driver (an agent restart) picks
// up copying a running container's console into its log.
func TestLXCConsoleReattach(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{LXC: true})
	a := newDriver(t, libvirt.Options{Kind: hv.KindLXC, URI: dmn.URI("lxc")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := hvtest.ContainerRoot(t)
	logPath := filepath.Join(filepath.Dir(root), "console.log")
	spec := hv.DomainSpec{Name: "reattach1", Kind: hv.KindLXC, VCPUs: 1, MemoryMiB: 64, RootDir: root, ConsoleLog: logPath}
	if err := a.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "boot marker in the console log", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), hvtest.GuestMarker+" reattach1")
	})
	a.Close()
	time.Sleep(1500 * time.Millisecond)
	before, _ := os.ReadFile(logPath)
	b := newDriver(t, libvirt.Options{Kind: hv.KindLXC, URI: dmn.URI("lxc")})
	defer func() { _ = b.Destroy(ctx, spec.Name); _ = b.Undefine(ctx, spec.Name) }()
	waitFor(t, 15*time.Second, "new ticks in the console log after reattaching", func() bool {
		now, _ := os.ReadFile(logPath)
		return len(now) > len(before) && strings.Contains(string(now[len(before):]), hvtest.GuestTick+" reattach1")
	})
}

// TestUnavailableHypervisors checks the operator-facing error on hosts
// without Xen or OpenVZ.
func TestUnavailableHypervisors(t *testing.T) {
	for _, c := range []struct {
		kind hv.Kind
		proc string
	}{{hv.KindXen, "/proc/xen"}, {hv.KindOpenVZ, "/proc/vz"}} {
		if _, err := os.Stat(c.proc); err == nil {
			t.Logf("%s exists: not checking the %s error", c.proc, c.kind)
			continue
		}
		_, err := libvirt.New(context.Background(), libvirt.Options{Kind: c.kind})
		if !errors.Is(err, hv.ErrUnsupported) || !strings.Contains(err.Error(), c.proc) {
			t.Errorf("%s: err = %v, want ErrUnsupported naming %s", c.kind, err, c.proc)
		}
	}
	if _, err := libvirt.New(context.Background(), libvirt.Options{Kind: hv.KindFake}); !errors.Is(err, hv.ErrUnsupported) {
		t.Errorf("fake through libvirt: %v", err)
	}
	if _, err := libvirt.New(context.Background(), libvirt.Options{Kind: hv.KindTest, URI: "test+ssh://h/default"}); !errors.Is(err, hv.ErrUnsupported) {
		t.Errorf("ssh transport: %v", err)
	}
}
