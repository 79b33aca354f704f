package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// agentHypervisor adapts an hv.Driver to what the agent reports: the driver's
// CPU and memory plus the node's storage.
type agentHypervisor struct {
	drv     hv.Driver
	diskMiB int64
}

func (h *agentHypervisor) Name() string { return string(h.drv.Name()) }

func (h *agentHypervisor) Resources(ctx context.Context) (api.NodeResources, error) {
	r, err := h.drv.Resources(ctx)
	if err != nil {
		return api.NodeResources{}, err
	}
	return api.NodeResources{
		MemoryTotalMiB: r.MemoryMiB,
		MemoryFreeMiB:  r.FreeMemoryMiB,
		DiskTotalMiB:   h.diskMiB,
		DiskFreeMiB:    h.diskMiB,
		CPUs:           r.CPUs,
	}, nil
}

func openHypervisor(c *cli.Context) (*agentHypervisor, error) {
	switch k := c.String("hypervisor"); k {
	case "fake":
		d := fake.New(fake.Options{CPUs: c.Int("fake-cpus"), MemoryMiB: c.Int64("fake-memory-mib")})
		return &agentHypervisor{drv: d, diskMiB: c.Int64("fake-disk-mib")}, nil
	default:
		return nil, usagef("unknown hypervisor %q (this build offers: fake)", k)
	}
}

var _ = fmt.Sprintf
