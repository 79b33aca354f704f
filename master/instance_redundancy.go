package master

import (
	"context"
	"fmt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// redundancyOf is how redundant a drbd instance is, as its nodes publish
// their DRBD state (docs/ha.md): "ok" when every disk is UpToDate on both
// nodes and connected, "syncing N%" while a resync runs (the least synced
// disk), "degraded" otherwise (a node unreachable, a resource not up or not
// connected, a split brain, a disk being replaced). "" for other disk
// templates. drbdOf is a node's published state, nil when the node is not
// online or publishes none. The verdicts are cluster verify-disks' own
// (checkDisk).
func redundancyOf(r *keys.InstanceRecord, drbdOf func(node string) *keys.DRBDState) string {
	if r.DiskTemplate != api.DiskTemplateDRBD {
		return ""
	}
	syncing, pct := false, 100.0
	for i, d := range r.Disks {
		if d.DRBD == nil || len(d.DRBD.Nodes) < 2 {
			return "degraded"
		}
		for _, n := range d.DRBD.Nodes {
			st := drbdOf(n.Node)
			switch v, _ := checkDisk(*r, i, n.Node, st); v {
			case diskHealthy:
			case diskSyncing:
				syncing = true
				if res, ok := findResource(*st, d.DRBD.Resource); ok {
					for _, p := range res.Peers {
						if p.SyncPercent < pct {
							pct = p.SyncPercent
						}
					}
				}
			default:
				return "degraded"
			}
		}
	}
	if syncing {
		return fmt.Sprintf("syncing %.0f%%", pct)
	}
	return "ok"
}

// instanceRedundancy is redundancyOf for one instance, read from etcd.
func (m *Master) instanceRedundancy(ctx context.Context, r *keys.InstanceRecord) string {
	if r.DiskTemplate != api.DiskTemplateDRBD {
		return ""
	}
	states := map[string]*keys.DRBDState{}
	for _, n := range diskNodes(r) {
		alive, err := m.keyExists(ctx, keys.NodeStatusKey(n))
		if err != nil || !alive {
			continue
		}
		var st keys.DRBDState
		if _, err := store.GetJSON(ctx, m.client, keys.NodeDRBDKey(n), &st); err == nil {
			states[n] = &st
		}
	}
	return redundancyOf(r, func(n string) *keys.DRBDState { return states[n] })
}
