package master

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// remakeCopy throws node's copy of every disk of rec away and makes it again
// from the other node's (replace-disks -s and -p): a new LV with new
// metadata, which DRBD fills by a full sync. It needs the other copy
// UpToDate; the primary's copy only with the instance stopped. Until the
// sync ends there is one UpToDate copy: this is for a copy that is faulty.
func (m *Master) remakeCopy(ctx context.Context, sc *jobs.StepContext, rec keys.InstanceRecord, node, tag string) error {
	other := rec.PrimaryNode
	if node == rec.PrimaryNode {
		other = replSecondary(rec)
		if err := m.requireStopped(ctx, &rec, "remake its primary's disks"); err != nil {
			return err
		}
	}
	if nodes, _ := leavingOf(rec); len(nodes) > 0 {
		return api.Errorf(api.CodeWrongState, "%s: its secondary is being moved to %s; finish that first (replace-disks -n %s)", rec.Name, replSecondary(rec), replSecondary(rec))
	}
	states, err := m.ownStates(ctx, rec, other)
	if err != nil {
		return err
	}
	for i, st := range states {
		if st.Disk != "UpToDate" {
			return api.Errorf(api.CodeWrongState, "%s: disk %d on %s is %s, not UpToDate: remaking %s's copy would leave none", rec.Name, i, other, diskStateText(st.Disk), node)
		}
	}
	sc.Logf("%s: remaking the disks on %s from %s", rec.Name, node, other)
	for i := range rec.Disks {
		for _, kind := range []string{keys.CmdDiskRemove, keys.CmdDiskCreate} {
			if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("%s-%s-%s-d%d", tag, kind, node, i), nodeCmd{Node: node, Kind: kind, Instance: rec,
				Params: keys.DiskParams{Disk: i}}); err != nil {
				return fmt.Errorf("%s of %s on %s: %w", kind, rec.Name, node, err)
			}
		}
	}
	took, err := m.waitUpToDate(ctx, sc, rec, node, other)
	if err == nil {
		sc.Logf("%s: the disks on %s are UpToDate again after %.1f s", rec.Name, node, took.Seconds())
	}
	return err
}

// replaceAuto remakes the copies that are faulty (no resource, Diskless or
// Failed), the secondary's first; nothing when all are healthy.
func (m *Master) replaceAuto(ctx context.Context, sc *jobs.StepContext, rec keys.InstanceRecord) error {
	done := false
	for _, node := range []string{replSecondary(rec), rec.PrimaryNode} {
		states, err := m.ownStates(ctx, rec, node)
		if err != nil {
			return fmt.Errorf("%w (replace-disks -n NODE moves the secondary off an unreachable node)", err)
		}
		if !slices.ContainsFunc(states, faultyCopy) {
			continue
		}
		if err := m.remakeCopy(ctx, sc, rec, node, "ra"); err != nil {
			return err
		}
		done = true
	}
	if !done {
		sc.Logf("%s: every disk is attached on both nodes; nothing to replace", rec.Name)
	}
	return nil
}

func faultyCopy(r keys.DRBDResource) bool {
	return r.Name == "" || r.Disk == "Diskless" || r.Disk == "Failed"
}

// ownStates is node's published state of each of rec's disks (Name "" when
// the kernel there does not know the resource).
func (m *Master) ownStates(ctx context.Context, rec keys.InstanceRecord, node string) ([]keys.DRBDResource, error) {
	if _, _, err := m.nodeUsable(ctx, node); err != nil {
		return nil, err
	}
	var st keys.DRBDState
	if _, err := store.GetJSON(ctx, m.client, keys.NodeDRBDKey(node), &st); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, unavailable("read drbd state", err)
	}
	out := make([]keys.DRBDResource, len(rec.Disks))
	for i, d := range rec.Disks {
		if d.DRBD != nil {
			out[i], _ = findResource(st, d.DRBD.Resource)
		}
	}
	return out, nil
}

func diskStateText(s string) string {
	if s == "" {
		return "not up"
	}
	return s
}
