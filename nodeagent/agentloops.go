package nodeagent

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/storage"
)

// DriverHypervisor reports an hv.Driver's CPU and memory plus the storage
// directory's disk space as the node's resources.
type DriverHypervisor struct {
	Driver  hv.Driver
	Storage *storage.Manager
}

// Name is the driver's kind.
func (h *DriverHypervisor) Name() string { return string(h.Driver.Name()) }

// Resources asks the driver (failing while it reports itself unhealthy) and
// the storage filesystem. Disk free is what the filesystem has left minus
// what sparse file disks may still claim.
func (h *DriverHypervisor) Resources(ctx context.Context) (api.NodeResources, error) {
	if hr, ok := h.Driver.(hv.HealthReporter); ok {
		if err := hr.Health(); err != nil {
			return api.NodeResources{}, fmt.Errorf("%w: %w", errHypervisorUnhealthy, err)
		}
	}
	r, err := h.Driver.Resources(ctx)
	if err != nil {
		return api.NodeResources{}, err
	}
	out := api.NodeResources{MemoryTotalMiB: r.MemoryMiB, MemoryFreeMiB: r.FreeMemoryMiB, CPUs: r.CPUs}
	if h.Driver.Name() == hv.KindTest {
		// libvirt's test hypervisor reports a fixed, tiny free memory, and
		// its built-in running domain "test" claims 8 GiB of a 3 GiB host:
		// what the other (drover's) simulated domains leave is the figure
		// that lets a test node take instances.
		doms, err := h.Driver.List(ctx)
		if err != nil {
			return api.NodeResources{}, err
		}
		var used int64
		for _, d := range doms {
			if d.State.Active() && d.Name != "test" {
				used += d.MemoryMiB
			}
		}
		out.MemoryFreeMiB = max(0, r.MemoryMiB-used)
	}
	if h.Storage != nil {
		total, free, err := h.Storage.Usage()
		if err != nil {
			return out, err
		}
		out.DiskTotalMiB, out.DiskFreeMiB = total, max(0, free-h.Storage.UnclaimedMiB())
	}
	return out, nil
}

// startLoops starts the command runner and the domain publisher of one
// lease session; the returned func waits until they have stopped (after ctx
// ends).
func (a *Agent) startLoops(ctx context.Context, lease clientv3.LeaseID) (wait func()) {
	if a.exec == nil {
		return func() {}
	}
	var wg sync.WaitGroup
	node := a.cfg.Credentials.Node
	dp := newDomainPublisher(a.cli, node, lease, a.cfg.Driver, a.exec, filepath.Join(a.store.Dir(), "instances"), a.cfg.DomainResync, a.log)
	a.mu.Lock()
	a.domains = dp
	a.mu.Unlock()
	dp.changed = a.svcIPs.Kick
	wg.Go(func() { dp.run(ctx) })
	wg.Go(func() { a.svcIPs.run(ctx, dp.running) })
	if b := a.cfg.Block; b != nil {
		wg.Go(func() { b.publishDRBD(ctx, a.cli, lease, a.log) })
		if b.Reattach {
			wg.Go(func() { b.reattachDRBD(ctx, a.log) })
		}
	}
	wg.Go(func() {
		backoff := 200 * time.Millisecond
		for ctx.Err() == nil {
			a.mu.Lock()
			epoch := a.maxEpoch
			a.mu.Unlock()
			r := newCommandRunner(a.cli, node, lease, a.exec, epoch, a.log)
			r.after = func(string) { dp.Kick() }
			r.doneDir = a.store.CommandsDir()
			err := r.run(ctx)
			a.mu.Lock()
			a.maxEpoch = max(a.maxEpoch, r.MaxEpoch())
			a.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("command_runner_restart", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	})
	return wg.Wait
}

// Executor is the agent's command executor (nil without a driver).
func (a *Agent) Executor() *Executor { return a.exec }
