package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
	"github.com/drover-project/drover/nodeagent/hv/libvirt"
	"github.com/drover-project/drover/nodeagent/hv/workload"
)

// hypervisorFlags are the agent's flags that choose and reach its hypervisor.
func hypervisorFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "hypervisor", Required: true, Usage: "kvm, lxc, xen, openvz, test, workload (node guests: instances are disk-writing processes) or fake (in-process, demos and tests); no default, so a real host never runs fake by mistake"},
		&cli.StringFlag{Name: "libvirt-uri", Usage: "libvirtd URI (default per hypervisor: qemu:///system, lxc:///system, xen:///system, openvz:///system, test:///default; e.g. test+unix:///default?socket=/x/libvirt-sock)"},
		&cli.StringFlag{Name: "migration-uri", Usage: "this node's libvirtd as other nodes' libvirtds reach it for live migration (e.g. qemu+tcp://10.0.0.2/system)"},
		&cli.StringFlag{Name: "migration-address", Usage: "this node's address for QEMU's migration and disk-copy streams (e.g. 10.0.0.2)"},
		&cli.StringFlag{Name: "kvm-domain-type", Value: "auto", Usage: "kvm: kvm, qemu (TCG) or auto (kvm when /dev/kvm can run a guest)"},
		&cli.StringFlag{Name: "storage-dir", Usage: "file disks, kernels, container roots and the template cache (default /var/lib/drover/storage as root, else $XDG_DATA_HOME/drover/storage/NODE)"},
		&cli.StringFlag{Name: "staging-dir", Usage: "where templates are unpacked before mkfs: a directory, or disk (next to the disk); default /dev/shm when it is a tmpfs with 4 GiB free, else disk"},
		&cli.Int64Flag{Name: "fake-memory-mib", Value: 16384, Usage: "memory the fake hypervisor offers"},
		&cli.IntFlag{Name: "fake-cpus", Value: 8, Usage: "CPUs the fake hypervisor offers"},
	}
}

// openDriver opens the hypervisor driver the flags name. Hypervisors that
// cannot run on this host (xen without /proc/xen, openvz without /proc/vz,
// no libvirtd) fail here with an error that says what is missing.
func openDriver(c *cli.Context, log *slog.Logger) (hv.Driver, error) {
	kind, err := hv.ParseKind(c.String("hypervisor"))
	if err != nil {
		return nil, usagef("%v", err)
	}
	if kind == hv.KindFake {
		return fake.New(fake.Options{CPUs: c.Int("fake-cpus"), MemoryMiB: c.Int64("fake-memory-mib")}), nil
	}
	if kind == hv.KindWorkload {
		return workload.New(workload.Options{Dir: filepath.Join(storageDir(c, "workload"), "workload"), Logger: log})
	}
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()
	d, err := libvirt.New(ctx, libvirt.Options{
		Kind: kind, URI: c.String("libvirt-uri"), DomainType: c.String("kvm-domain-type"), Logger: log,
	})
	if err != nil {
		uri := c.String("libvirt-uri")
		if uri == "" {
			uri = libvirt.DefaultURI(kind)
		}
		return nil, fmt.Errorf("hypervisor %s at %s: %w (is libvirtd running with the %s driver? see docs/hypervisors.md)", kind, uri, err, kind)
	}
	return d, nil
}

// storageDir is the agent's storage directory: the flag, or a default that a
// non-root user (e.g. a fake-hypervisor demo) can create.
func storageDir(c *cli.Context, node string) string {
	if d := c.String("storage-dir"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/drover/storage"
	}
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "drover-storage-"+node)
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "drover", "storage", node)
}
