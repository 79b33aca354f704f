// Package hvopen opens the hv.Driver for a node's configured hypervisor
// kind: the in-process fake, or libvirt for kvm, lxc, xen, openvz and test.
package hvopen

import (
	"context"
	"log/slog"
	"time"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
	"github.com/drover-project/drover/nodeagent/hv/libvirt"
	"github.com/drover-project/drover/nodeagent/hv/workload"
)

// Config selects and configures a driver.
type Config struct {
	// Kind: fake, kvm, lxc, xen, openvz or test.
	Kind hv.Kind
	// URI of libvirtd (libvirt kinds); default libvirt.DefaultURI(Kind).
	URI string
	// DomainType for kvm: kvm, qemu or auto (default).
	DomainType string
	// CallTimeout for libvirt calls; default 30 s.
	CallTimeout time.Duration
	// FakeCPUs and FakeMemoryMiB size a fake node (defaults 4 and 8192).
	FakeCPUs      int
	FakeMemoryMiB int64
	// WorkloadDir keeps the workload driver's domains (required for it).
	WorkloadDir string
	Logger      *slog.Logger
}

// Open returns the driver for cfg.Kind. Errors wrap hv.ErrUnsupported (kind
// unknown or unavailable on this host) or hv.ErrHypervisorDown (libvirtd
// does not answer).
func Open(ctx context.Context, cfg Config) (hv.Driver, error) {
	if _, err := hv.ParseKind(string(cfg.Kind)); err != nil {
		return nil, err
	}
	if cfg.Kind == hv.KindFake {
		return fake.New(fake.Options{CPUs: cfg.FakeCPUs, MemoryMiB: cfg.FakeMemoryMiB, Logger: cfg.Logger}), nil
	}
	if cfg.Kind == hv.KindWorkload {
		return workload.New(workload.Options{Dir: cfg.WorkloadDir, Logger: cfg.Logger})
	}
	d, err := libvirt.New(ctx, libvirt.Options{Kind: cfg.Kind, URI: cfg.URI, DomainType: cfg.DomainType,
		CallTimeout: cfg.CallTimeout, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return d, nil
}
