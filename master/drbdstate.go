package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// nodeDRBD is the DRBD state node's agent publishes (nil when none or
// unreadable: node info shows the rest).
func (m *Master) nodeDRBD(ctx context.Context, node string) []api.NodeDRBDResource {
	var st keys.DRBDState
	if _, err := store.GetJSON(ctx, m.client, keys.NodeDRBDKey(node), &st); err != nil {
		return nil
	}
	out := make([]api.NodeDRBDResource, 0, len(st.Resources))
	for _, r := range st.Resources {
		v := api.NodeDRBDResource{Name: r.Name, Role: r.Role, Minor: r.Minor, Disk: r.Disk, SplitBrain: r.SplitBrain}
		for _, p := range r.Peers {
			v.Peers = append(v.Peers, api.NodeDRBDPeer{Name: p.Name, Connection: p.Connection, Role: p.Role, Disk: p.PeerDisk,
				Replication: p.Replication, SyncPercent: p.SyncPercent})
		}
		out = append(out, v)
	}
	return out
}
