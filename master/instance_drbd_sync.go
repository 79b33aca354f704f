package master

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Waiting for DRBD syncs, from the state the nodes' agents publish at
// nodestate/<node>/drbd (read from `drbdsetup events2`).

const (
	// addSyncPoll is how often a sync wait reads the published state.
	addSyncPoll = 500 * time.Millisecond
	// syncStall is how long a sync may make no progress (and a peer stay
	// unconnected) before the wait fails.
	syncStall = 2 * time.Minute
	// syncLogEvery is the least time between two progress lines.
	syncLogEvery = 5 * time.Second
)

// drbdResources reads what node publishes, by resource name (nil, nil when
// it publishes nothing).
func (m *Master) drbdResources(ctx context.Context, node string) (map[string]keys.DRBDResource, error) {
	var st keys.DRBDState
	if _, err := store.GetJSON(ctx, m.client, keys.NodeDRBDKey(node), &st); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, unavailable("read DRBD state of "+node, err)
	}
	out := make(map[string]keys.DRBDResource, len(st.Resources))
	for _, r := range st.Resources {
		out[r.Name] = r
	}
	return out, nil
}

// diskSynced reports whether r (as node sees it) is UpToDate and connected
// to every peer with the peer UpToDate, and the sync progress (the lowest
// peer's).
func diskSynced(r keys.DRBDResource, peers int) (bool, float64) {
	pct := 100.0
	if len(r.Peers) == 0 {
		pct = 0
	}
	ok := r.Disk == "UpToDate" && len(r.Peers) >= peers
	for _, p := range r.Peers {
		pct = min(pct, p.SyncPercent)
		ok = ok && p.Connection == "Connected" && p.PeerDisk == "UpToDate"
	}
	return ok, pct
}

// waitSync waits until every disk of a drbd instance is in sync as its
// primary sees it, logging progress to the job; it fails when the primary
// becomes unreachable or a sync makes no progress for syncStall. A disk i
// with above[i] > 0 must also be larger than above[i] KiB (a grow).
func (m *Master) waitSync(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, above ...int64) error {
	start, lastLog := time.Now(), time.Time{}
	best, bestAt := -1.0, time.Now()
	peers := len(secondaryNodes(rec))
	t := time.NewTicker(addSyncPoll)
	defer t.Stop()
	for {
		if _, _, err := m.nodeUsable(ctx, rec.PrimaryNode); err != nil {
			return fmt.Errorf("waiting for the sync of %s: %w", rec.Name, err)
		}
		res, err := m.drbdResources(ctx, rec.PrimaryNode)
		if err != nil {
			return err
		}
		all, low, state := true, 100.0, ""
		for i, d := range rec.Disks {
			if d.DRBD == nil {
				return api.Errorf(api.CodeWrongState, "disk %d of %s has no DRBD record", i, rec.Name)
			}
			r, found := res[d.DRBD.Resource]
			ok, pct := diskSynced(r, peers)
			if !found {
				ok, pct = false, 0
			}
			if i < len(above) && r.SizeKiB <= above[i] {
				ok = false
			}
			all, low = all && ok, min(low, pct)
			state += fmt.Sprintf(" disk %d %s %.1f%%", i, describeDRBD(r, found), pct)
		}
		if all {
			sc.Logf("disks of %s in sync after %.1fs:%s", rec.Name, time.Since(start).Seconds(), state)
			return nil
		}
		if low > best {
			best, bestAt = low, time.Now()
		}
		if time.Since(lastLog) >= syncLogEvery {
			sc.Logf("sync of %s:%s", rec.Name, state)
			lastLog = time.Now()
		}
		if time.Since(bestAt) > syncStall {
			return api.Errorf(api.CodeWrongState, "the sync of %s made no progress for %v:%s", rec.Name, syncStall, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// describeDRBD is a resource's state in a few words.
func describeDRBD(r keys.DRBDResource, found bool) string {
	if !found {
		return "not up"
	}
	s := r.Role + "/" + r.Disk
	for _, p := range r.Peers {
		s += fmt.Sprintf(" peer %s %s/%s %s", p.Name, p.Connection, p.PeerDisk, p.Replication)
	}
	return s
}
