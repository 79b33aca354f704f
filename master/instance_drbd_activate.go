package master

import (
	"context"
	"fmt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// Bringing the disks of plain and drbd instances up and down on their nodes.

// activateDisks brings every disk of rec up: disk.create on each node
// holding it (an existing LV keeps its data: metadata is written only on a
// new LV) and, for drbd, promotion on the primary (never forced). With
// rejoin it only brings a drbd disk up as secondary on the nodes that are
// online and do not report its resource (a node that came back), and
// promotes nothing.
func (m *Master) activateDisks(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, rejoin bool) error {
	if !isBlockTemplate(rec.DiskTemplate) {
		return api.Errorf(api.CodeWrongState, "instance %s has disk template %s: no disks to activate", rec.Name, rec.DiskTemplate)
	}
	if rec.DiskTemplate == api.DiskTemplatePlain {
		if rejoin {
			return nil
		}
		for i := range rec.Disks {
			if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("activate-%d", i), nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdDiskCreate,
				Instance: *rec, Params: keys.DiskParams{Disk: i}}); err != nil {
				return err
			}
		}
		sc.Logf("disks of %s active on %s", rec.Name, rec.PrimaryNode)
		return nil
	}
	// Secondaries first, so that the primary finds its peers connecting.
	nodes := append(secondaryNodes(rec), rec.PrimaryNode)
	for _, n := range nodes {
		primary := n == rec.PrimaryNode && !rejoin
		var have map[string]keys.DRBDResource
		if rejoin {
			if _, _, err := m.nodeUsable(ctx, n); err != nil {
				continue
			}
			var err error
			if have, err = m.drbdResources(ctx, n); err != nil || have == nil {
				continue // nothing published (yet): the next pass looks again
			}
		}
		for i, d := range rec.Disks {
			if minorOn(d.DRBD, n) < 0 {
				continue
			}
			if rejoin {
				if _, up := have[d.DRBD.Resource]; up {
					continue
				}
				sc.Logf("node %s does not report %s (disk %d of %s): bringing it up as secondary", n, d.DRBD.Resource, i, rec.Name)
			}
			if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("activate-%d-%s", i, n), nodeCmd{Node: n, Kind: keys.CmdDiskCreate,
				Instance: *rec, Params: keys.DiskParams{Disk: i, Primary: primary}}); err != nil {
				return fmt.Errorf("activate disk %d of %s on %s: %w", i, rec.Name, n, err)
			}
		}
	}
	if !rejoin {
		sc.Logf("disks of %s active: primary on %s, secondary on %v", rec.Name, rec.PrimaryNode, secondaryNodes(rec))
	}
	return nil
}

// deactivateDisks takes the drbd disks of a stopped instance down on every
// node (demoting the primary first); the LVs and their data stay.
func (m *Master) deactivateDisks(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord) error {
	if rec.DiskTemplate != api.DiskTemplateDRBD {
		sc.Logf("disks of %s (%s) stay active: a plain LV needs no deactivation", rec.Name, rec.DiskTemplate)
		return nil
	}
	for _, n := range diskNodes(rec) {
		for i, d := range rec.Disks {
			if minorOn(d.DRBD, n) < 0 {
				continue
			}
			if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("deactivate-%d-%s", i, n), nodeCmd{Node: n, Kind: keys.CmdDiskDeactivate,
				Instance: *rec, Params: keys.DiskParams{Disk: i}}); err != nil {
				return fmt.Errorf("deactivate disk %d of %s on %s: %w", i, rec.Name, n, err)
			}
		}
	}
	sc.Logf("disks of %s down on %v", rec.Name, diskNodes(rec))
	return nil
}
