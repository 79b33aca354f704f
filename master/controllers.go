package master

import (
	"context"
	"log/slog"
	"time"

	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/store"
)

// controller is one duty of the leading master. Every controller runs from
// the moment a master is elected until its leadership ends (ctx is then
// canceled), and gets the leadership's fence for its writes. A fatal
// controller's return ends the leadership (the master campaigns again); a
// non-fatal one's error is logged. Each controller lives in its own file,
// ctl_<name>.go, except the job executor (package jobs). Duties of every
// master, leading or not (ctl_deadleader.go, templatesync.go), are started
// in master.go.
type controller struct {
	name  string
	fatal bool
	run   func(ctx context.Context, fence store.Fence) error
}

// leaderControllers is the table of what a leader runs.
func (m *Master) leaderControllers(log *slog.Logger) []controller {
	return []controller{
		{name: "jobs", fatal: true, run: func(ctx context.Context, fence store.Fence) error {
			return jobs.NewExecutor(m.client, m.reg, fence, m.cfg.MaxRunningJobs, log).Run(ctx)
		}},
		{name: "fence-watch", fatal: true, run: m.watchFence},
		{name: "liveness", fatal: true, run: m.watchLiveness},
		{name: "job-archive", fatal: true, run: m.archiveLoop},
		{name: "instance-restart", run: m.runInstanceWatcher},
		{name: "name-index", run: m.indexNames},
		{name: "drbd-rejoin", run: m.runDRBDRejoin},
		{name: "drbd-outdate", run: m.runDRBDOutdate},
		{name: "reprotect", run: m.runReprotect},
		{name: "cluster-ip", run: m.runClusterIP},
		{name: "failback", run: m.runFailback},
		{name: "uplink", run: m.runUplink},
	}
}

// periodic is the loop of a controller that looks every interval: once runs
// after each tick with a context bounded by limit, until ctx ends.
func periodic(ctx context.Context, interval, limit time.Duration, once func(context.Context)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		octx, cancel := context.WithTimeout(ctx, limit)
		once(octx)
		cancel()
	}
}
