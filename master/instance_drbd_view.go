package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// instanceDRBD is, per disk of a drbd instance, its allocation joined with
// the state each of its nodes publishes (instance info).
func (m *Master) instanceDRBD(ctx context.Context, rec *keys.InstanceRecord) ([]api.InstanceDRBDDisk, error) {
	if rec.DiskTemplate != api.DiskTemplateDRBD {
		return nil, nil
	}
	states := map[string]map[string]keys.DRBDResource{}
	for _, n := range diskNodes(rec) {
		res, err := m.drbdResources(ctx, n)
		if err != nil {
			return nil, err
		}
		states[n] = res
	}
	out := make([]api.InstanceDRBDDisk, 0, len(rec.Disks))
	for i, d := range rec.Disks {
		if d.DRBD == nil {
			continue
		}
		v := api.InstanceDRBDDisk{Disk: i, Resource: d.DRBD.Resource, Port: d.DRBD.Port}
		for _, n := range d.DRBD.Nodes {
			side := api.InstanceDRBDNode{Node: n.Node, Minor: n.Minor}
			if r, ok := states[n.Node][d.DRBD.Resource]; ok {
				side.Role, side.Disk, side.SplitBrain = r.Role, r.Disk, r.SplitBrain
				if len(r.Peers) > 0 {
					p := r.Peers[0]
					side.PeerDisk, side.Connection, side.Replication, side.SyncPercent = p.PeerDisk, p.Connection, p.Replication, p.SyncPercent
					for _, q := range r.Peers[1:] {
						side.SyncPercent = min(side.SyncPercent, q.SyncPercent)
					}
				}
			}
			v.Nodes = append(v.Nodes, side)
		}
		out = append(out, v)
	}
	return out, nil
}
