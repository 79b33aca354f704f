package drbd

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/drover-project/drover/master/keys"
)

// A lower disk that fails is detached by DRBD (on-io-error detach, the
// resource files' policy): the resource goes on Diskless, a primary reading
// and writing its peer's disk. Nothing else attaches it again: the
// Reattacher does once the disk reads again, so redundancy comes back by
// itself after a transient failure (a path, a controller, the lab's
// --heal-disk). It tries `drbdadm attach` on every resource that has been
// Diskless for ReattachSettle while its file still names a disk for this
// node, and backs off (ReattachSettle doubling to ReattachMax) while the
// disk still fails. A resource the agent is bringing up passes through
// Diskless for less than ReattachSettle; one that was never attached here
// has no file or no minor and is left alone. The attached disk resyncs
// from its peer (bitmap-based: only what changed while it was detached).
// See docs/drbd.md, "A failing lower disk".

// ReattachSettle is how long a resource must stay Diskless before the
// first attach, and the first pause between attempts.
const ReattachSettle = 10 * time.Second

// ReattachMax is the longest pause between attempts on a disk that still
// fails.
const ReattachMax = 60 * time.Second

// Reattacher attaches the detached lower disks of this node's resources.
type Reattacher struct {
	Admin *Admin
	Log   *slog.Logger

	since map[string]time.Time // first seen Diskless
	next  map[string]time.Time // next attempt
	pause map[string]time.Duration
}

// Once looks at the resources the monitor shows (now is the current time)
// and tries attach where due; it returns the resources it tried.
func (r *Reattacher) Once(ctx context.Context, now time.Time, res []keys.DRBDResource) []string {
	if r.since == nil {
		r.since, r.next, r.pause = map[string]time.Time{}, map[string]time.Time{}, map[string]time.Duration{}
	}
	diskless := map[string]bool{}
	var tried []string
	for _, x := range res {
		if x.Disk != "Diskless" || x.Minor < 0 {
			continue
		}
		diskless[x.Name] = true
		if _, err := os.Stat(r.Admin.ResourceFile(x.Name)); err != nil {
			continue // not one of the agent's resources (or being removed)
		}
		if _, ok := r.since[x.Name]; !ok {
			r.since[x.Name] = now
			r.next[x.Name] = now.Add(ReattachSettle)
			r.pause[x.Name] = ReattachSettle
			r.Log.Warn("drbd_disk_detached", "resource", x.Name, "role", x.Role, "attach_in", ReattachSettle)
			continue
		}
		if now.Before(r.next[x.Name]) {
			continue
		}
		tried = append(tried, x.Name)
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.Admin.Attach(actx, x.Name)
		cancel()
		if err != nil {
			r.pause[x.Name] = min(2*r.pause[x.Name], ReattachMax)
			r.next[x.Name] = now.Add(r.pause[x.Name])
			r.Log.Warn("drbd_reattach_failed", "resource", x.Name, "diskless_for", now.Sub(r.since[x.Name]).Round(time.Second), "err", err, "retry_in", r.pause[x.Name])
			continue
		}
		r.Log.Warn("drbd_reattached", "resource", x.Name, "role", x.Role, "diskless_for", now.Sub(r.since[x.Name]).Round(time.Second))
		r.next[x.Name] = now.Add(ReattachSettle) // if it is Diskless again, it failed again
	}
	for name := range r.since {
		if !diskless[name] {
			delete(r.since, name)
			delete(r.next, name)
			delete(r.pause, name)
		}
	}
	return tried
}

// Attach attaches the resource's lower disk as its file names it.
func (a *Admin) Attach(ctx context.Context, name string) error {
	return a.drbdadm(ctx, "", "attach", name)
}
