package master

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// replaceSecondary moves every disk of instance name to the secondary node
// (replace-disks -n): on DRBD 9 the new node joins as a third peer and syncs
// while the old secondary stays connected, and only then is the old one
// removed, so there are never fewer than two UpToDate copies; on DRBD 8.4
// (two peers) the old secondary is disconnected, its disk kept, until the new
// one is UpToDate. tag makes the node command IDs unique within the job step
// (an evacuation replaces several instances in one step). Every part is
// idempotent: a re-run continues from the record.
func (m *Master) replaceSecondary(ctx context.Context, sc *jobs.StepContext, name, node, tag string) error {
	start := time.Now()
	rec, err := m.beginReplace(ctx, sc, name, node)
	if err != nil {
		return err
	}
	leaving, forget := leavingOf(*rec)
	if len(leaving) == 0 {
		sc.Logf("%s: %s already is the secondary", name, node)
		return nil
	}
	major, err := m.drbdMajor(ctx, rec.PrimaryNode)
	if err != nil {
		return err
	}
	if nm, err := m.drbdMajor(ctx, node); err != nil {
		return err
	} else if nm != major {
		return api.Errorf(api.CodeWrongState, "node %s runs DRBD %d, the primary %s DRBD %d", node, nm, rec.PrimaryNode, major)
	}
	old := leaving[0]
	oldUp := m.reachable(ctx, old)
	if !oldUp {
		sc.Logf("%s: old secondary %s is unreachable; its disks stay there (remove them with cluster repair once it is back)", name, old)
	}
	cmd := func(what, n, kind string, r keys.InstanceRecord, p func(i int) keys.DiskParams) error {
		for i := range r.Disks {
			_, err := m.stepCmd(ctx, sc, fmt.Sprintf("%s-%s-%s-d%d", tag, what, n, i), nodeCmd{Node: n, Kind: kind, Instance: r, Params: p(i)})
			if err != nil {
				return fmt.Errorf("%s of %s on %s: %w", kind, name, n, err)
			}
		}
		return nil
	}
	plain := func(i int) keys.DiskParams { return keys.DiskParams{Disk: i} }
	all, next, before := replPhase(*rec, allPeers), replPhase(*rec, newPeers), replPhase(*rec, oldPeers)
	if major >= 9 {
		sc.Logf("%s: %s joins as a third DRBD peer; %s stays UpToDate until it is in sync", name, node, old)
		steps := []func() error{
			func() error { return cmd("add", rec.PrimaryNode, keys.CmdDiskAdjust, all, plain) },
			func() error {
				if !oldUp {
					return nil
				}
				return cmd("add", old, keys.CmdDiskAdjust, all, plain)
			},
			func() error { return cmd("create", node, keys.CmdDiskCreate, all, plain) },
		}
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
	} else {
		sc.Logf("%s: DRBD 8.4 has two peers: %s is disconnected and keeps its disk until %s is UpToDate", name, old, node)
		if oldUp {
			if err := cmd("disconnect", old, keys.CmdDiskDisconnect, before, plain); err != nil {
				return err
			}
		}
		if err := cmd("peer", rec.PrimaryNode, keys.CmdDiskAdjust, next, func(i int) keys.DiskParams { return keys.DiskParams{Disk: i, Reconnect: true} }); err != nil {
			return err
		}
		if err := cmd("create", node, keys.CmdDiskCreate, next, plain); err != nil {
			return err
		}
	}
	synced, err := m.waitUpToDate(ctx, sc, *rec, node, rec.PrimaryNode)
	if err != nil {
		return err
	}
	if major >= 9 {
		drop := func(i int) keys.DiskParams { return keys.DiskParams{Disk: i, Forget: forget[i]} }
		if err := cmd("drop", rec.PrimaryNode, keys.CmdDiskAdjust, next, drop); err != nil {
			return err
		}
		if err := cmd("drop", node, keys.CmdDiskAdjust, next, drop); err != nil {
			return err
		}
	}
	if oldUp {
		removeRec := before
		if major >= 9 {
			removeRec = all
		}
		if err := cmd("remove", old, keys.CmdDiskRemove, removeRec, plain); err != nil {
			return err
		}
	}
	if err := m.finishReplace(ctx, sc, name); err != nil {
		return err
	}
	sc.Logf("%s: secondary %s -> %s in %.1f s (new copy UpToDate after %.1f s)", name, old, node, time.Since(start).Seconds(), synced.Seconds())
	return nil
}

// beginReplace writes the record that names node as the new secondary
// (fenced, and only if no instance record changed since the minors were
// chosen) unless it already does.
func (m *Master) beginReplace(ctx context.Context, sc *jobs.StepContext, name, node string) (*keys.InstanceRecord, error) {
	nrec, _, err := m.nodeUsable(ctx, node)
	if err != nil {
		return nil, err
	}
	if nrec.Drained {
		return nil, api.Errorf(api.CodeWrongState, "node %s is drained: it takes no new disks", node)
	}
	recs, prefixRev, err := m.AllocRevision(ctx)
	if err != nil {
		return nil, err
	}
	var rec *keys.InstanceRecord
	for i := range recs {
		if recs[i].Name == name {
			rec = &recs[i]
		}
	}
	if rec == nil {
		return nil, api.Errorf(api.CodeUnknownEntity, "instance %s not found", name)
	}
	out, changed, err := planNewSecondary(recs, *rec, node, nrec.SecondaryIP)
	if err != nil || !changed {
		return &out, err
	}
	if err := m.putRecordFenced(ctx, sc, out, clientv3.Compare(clientv3.ModRevision(keys.InstancesPrefix).WithPrefix(), "<", prefixRev+1)); err != nil {
		return nil, err
	}
	sc.Logf("%s: new secondary %s recorded (minor %d)", name, node, out.Disks[0].DRBD.Nodes[1].Minor)
	return &out, nil
}

// finishReplace clears Leaving: the old secondary holds nothing any more.
func (m *Master) finishReplace(ctx context.Context, sc *jobs.StepContext, name string) error {
	rec, rev, err := m.instanceRecord(ctx, name)
	if err != nil {
		return err
	}
	changed := false
	for _, d := range rec.Disks {
		if d.DRBD != nil && len(d.DRBD.Leaving) > 0 {
			d.DRBD.Leaving, changed = nil, true
		}
	}
	if !changed {
		return nil
	}
	return m.putRecordFenced(ctx, sc, *rec, store.Unchanged(keys.InstanceKey(name), rev))
}

// putRecordFenced writes an instance record in a txn fenced by the step's
// leadership, if cmps hold (the record or the prefix unchanged).
func (m *Master) putRecordFenced(ctx context.Context, sc *jobs.StepContext, rec keys.InstanceRecord, cmps ...clientv3.Cmp) error {
	fence, err := m.fenceOf(ctx, sc.Epoch)
	if err != nil {
		return err
	}
	put, err := store.PutJSON(keys.InstanceKey(rec.Name), rec)
	if err != nil {
		return err
	}
	if _, err := fence.Txn(ctx, m.client, cmps, put); err != nil {
		switch {
		case errors.Is(err, store.ErrFenced):
			return jobs.ErrLeadershipLost
		case errors.Is(err, store.ErrConflict):
			return api.Errorf(api.CodeUnavailable, "instance records changed while %s was updated; run it again", rec.Name)
		}
		return unavailable("write instance", err)
	}
	return nil
}

// drbdMajor is the DRBD major version node's agent reports (8 or 9).
func (m *Master) drbdMajor(ctx context.Context, node string) (int, error) {
	_, st, err := m.nodeUsable(ctx, node)
	if err != nil {
		return 0, err
	}
	if st.Storage == nil || st.Storage.DRBDVersion == "" {
		return 0, api.Errorf(api.CodeWrongState, "node %s has no DRBD module loaded", node)
	}
	major, err := strconv.Atoi(strings.SplitN(st.Storage.DRBDVersion, ".", 2)[0])
	if err != nil {
		return 0, api.Errorf(api.CodeWrongState, "node %s reports DRBD version %q", node, st.Storage.DRBDVersion)
	}
	return major, nil
}

// reachable: the node exists, is not offline and its agent holds a lease.
func (m *Master) reachable(ctx context.Context, node string) bool {
	_, _, err := m.nodeUsable(ctx, node)
	return err == nil
}
