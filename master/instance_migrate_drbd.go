package master

import (
	"context"
	"fmt"

	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// The DRBD side of a live migration: allow-two-primaries only for the
// window (on on both peers, promote the target, move the domain, demote
// the source, off again), so that outside it a resource has one primary.

// drbdPeer is the other node of a drbd instance's mirror ("" if none).
func drbdPeer(rec *keys.InstanceRecord) string {
	for _, d := range rec.Disks {
		if d.DRBD == nil {
			continue
		}
		for _, n := range d.DRBD.Nodes {
			if n.Node != rec.PrimaryNode {
				return n.Node
			}
		}
	}
	return ""
}

// drbdPrimaryFirst returns disks with node first among each mirror's peers
// (DRBDDisk.Nodes is primary first).
func drbdPrimaryFirst(disks []keys.DiskSpec, node string) []keys.DiskSpec {
	out := make([]keys.DiskSpec, len(disks))
	for i, d := range disks {
		out[i] = d
		if d.DRBD == nil {
			continue
		}
		dd := *d.DRBD
		dd.Nodes = nil
		for _, n := range d.DRBD.Nodes {
			if n.Node == node {
				dd.Nodes = append([]keys.DRBDNode{n}, dd.Nodes...)
			} else {
				dd.Nodes = append(dd.Nodes, n)
			}
		}
		out[i].DRBD = &dd
	}
	return out
}

// drbdDisks are the indexes of rec's drbd disks.
func drbdDisks(rec *keys.InstanceRecord) []int {
	var out []int
	if rec.DiskTemplate != "drbd" {
		return nil
	}
	for i, d := range rec.Disks {
		if d.DRBD != nil {
			out = append(out, i)
		}
	}
	return out
}

// diskCmd runs one disk command of disk i on node; tag tells the uses of
// one kind in a job apart (the command ID must differ).
func (m *Master) diskCmd(ctx context.Context, sc *jobs.StepContext, tag string, rec *keys.InstanceRecord, node, kind string, i int, params any) error {
	step := fmt.Sprintf("%s-%s-%s-%d", tag, kind, node, i)
	if _, err := m.stepCmd(ctx, sc, step, nodeCmd{Node: node, Kind: kind, Instance: *rec, Params: params}); err != nil {
		return fmt.Errorf("%s of disk %d of %s on %s: %w", kind, i, rec.Name, node, err)
	}
	return nil
}

// drbdOpenWindow allows two primaries on both peers and promotes target.
func (m *Master) drbdOpenWindow(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, source, target string) error {
	for _, i := range drbdDisks(rec) {
		for _, n := range []string{source, target} {
			if err := m.diskCmd(ctx, sc, "open", rec, n, keys.CmdDiskDualPrimary, i, keys.DualPrimaryParams{Disk: i, Allow: true}); err != nil {
				return err
			}
		}
		if err := m.diskCmd(ctx, sc, "open", rec, target, keys.CmdDiskPrimary, i, keys.DiskParams{Disk: i}); err != nil {
			return err
		}
		sc.Logf("disk %d of %s: two primaries allowed, %s promoted", i, rec.Name, target)
	}
	return nil
}

// drbdSingle leaves primary as the only primary of every drbd disk: the
// other peers are demoted, then two primaries are no longer allowed.
func (m *Master) drbdSingle(ctx context.Context, sc *jobs.StepContext, tag string, rec *keys.InstanceRecord, primary string) error {
	for _, i := range drbdDisks(rec) {
		for _, n := range rec.Disks[i].DRBD.Nodes {
			if n.Node == primary {
				continue
			}
			if err := m.diskCmd(ctx, sc, tag, rec, n.Node, keys.CmdDiskSecondary, i, keys.DiskParams{Disk: i}); err != nil {
				return err
			}
		}
		for _, n := range rec.Disks[i].DRBD.Nodes {
			if err := m.diskCmd(ctx, sc, tag, rec, n.Node, keys.CmdDiskDualPrimary, i, keys.DualPrimaryParams{Disk: i}); err != nil {
				return err
			}
		}
		sc.Logf("disk %d of %s: %s is the only primary, two primaries no longer allowed", i, rec.Name, primary)
	}
	return nil
}
