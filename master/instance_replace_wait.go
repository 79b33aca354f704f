package master

import (
	"context"
	"errors"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// syncPoll is how often the published DRBD state is read while a new copy
// syncs.
const syncPoll = time.Second

// splitBrainGrace is how long a split brain may be reported before the wait
// gives up (a recovery clears it once the handshake succeeds).
const splitBrainGrace = 30 * time.Second

// waitUpToDate waits until node's copy of every disk of rec is UpToDate and
// connected to from (the primary, or the secondary when the primary's copy
// is remade), as node's agent publishes it from events2; the
// sync's progress goes to the job log. It returns how long it took.
func (m *Master) waitUpToDate(ctx context.Context, sc *jobs.StepContext, rec keys.InstanceRecord, node, from string) (time.Duration, error) {
	start := time.Now()
	var size int64
	for _, d := range rec.Disks {
		size += d.SizeMiB
	}
	// Generous: 10 min plus 20 MiB/s (a 2-core machine under load).
	deadline := start.Add(10*time.Minute + time.Duration(size/20)*time.Second)
	logged := -1
	var splitSince time.Time
	for {
		done, pct, err := m.copyUpToDate(ctx, rec, node, from)
		if err != nil {
			return 0, err
		}
		if done {
			return time.Since(start), nil
		}
		if pct >= 0 {
			splitSince = time.Time{}
		} else if splitSince.IsZero() {
			splitSince = time.Now()
		} else if time.Since(splitSince) > splitBrainGrace {
			return 0, api.Errorf(api.CodeWrongState, "%s: split brain on %s; see drover instance recover-split-brain", rec.Name, node)
		}
		if q := int(pct) / 25; q > logged {
			logged = q
			sc.Logf("%s: copy on %s %.0f%% in sync", rec.Name, node, pct)
		}
		if time.Now().After(deadline) {
			return 0, api.Errorf(api.CodeUnavailable, "%s: the copy on %s is not UpToDate after %v (%.0f%% in sync)", rec.Name, node, time.Since(start).Round(time.Second), pct)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(syncPoll):
		}
	}
}

// copyUpToDate reports whether node's copies of rec's disks are UpToDate and
// connected to from, and the lowest sync percentage among them (-1 while a
// split brain is reported).
func (m *Master) copyUpToDate(ctx context.Context, rec keys.InstanceRecord, node, from string) (bool, float64, error) {
	if _, _, err := m.nodeUsable(ctx, node); err != nil {
		return false, 0, err
	}
	var st keys.DRBDState
	if _, err := store.GetJSON(ctx, m.client, keys.NodeDRBDKey(node), &st); err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, 0, unavailable("read drbd state", err)
	}
	all, low := true, 100.0
	for _, d := range rec.Disks {
		if d.DRBD == nil {
			continue
		}
		r, ok := findResource(st, d.DRBD.Resource)
		pct := 0.0
		up := false
		if ok {
			for _, p := range r.Peers {
				if p.Name == from || p.Name == "peer" {
					pct = p.SyncPercent
					up = r.Disk == "UpToDate" && p.Connection == "Connected" && p.PeerDisk == "UpToDate"
				}
			}
			if r.SplitBrain {
				return false, -1, nil
			}
		}
		if !up {
			all = false
			if r.Disk != "UpToDate" {
				low = min(low, pct)
			}
		}
	}
	return all, low, nil
}

func findResource(st keys.DRBDState, name string) (keys.DRBDResource, bool) {
	for _, r := range st.Resources {
		if r.Name == name {
			return r, true
		}
	}
	return keys.DRBDResource{}, false
}
