package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// cluster.verify-disks: every drbd disk on every node of its record is
// checked (checkDisk); what is not up or StandAlone gets disk.adjust on its
// node, the rest is reported. It takes the cluster lock: adjust writes the
// resource file from the record, which must not change meanwhile.
func (m *Master) opClusterVerifyDisks() jobs.Kind {
	return jobs.Kind{
		Name: api.OpClusterVerifyDisks,
		Validate: func(_ context.Context, raw json.RawMessage) error {
			_, err := parseOp[api.ClusterVerifyDisks](raw)
			return err
		},
		Locks: func(json.RawMessage) []string { return []string{"cluster"} },
		Steps: func(json.RawMessage) ([]jobs.Step, error) {
			return []jobs.Step{{Name: "verify-disks", Run: m.verifyDisks}}, nil
		},
	}
}

func (m *Master) verifyDisks(ctx context.Context, sc *jobs.StepContext) error {
	v, err := m.readClusterView(ctx)
	if err != nil {
		return err
	}
	states := map[string]*keys.DRBDState{}
	stateOf := func(node string) *keys.DRBDState {
		if st, ok := states[node]; ok {
			return st
		}
		var st *keys.DRBDState
		if m.reachable(ctx, node) {
			st = &keys.DRBDState{}
			if _, err := store.GetJSON(ctx, m.client, keys.NodeDRBDKey(node), st); err != nil && !errors.Is(err, store.ErrNotFound) {
				st = nil
			}
		}
		states[node] = st
		return st
	}
	var res api.VerifyDisksResult
	for _, rec := range v.instances {
		if rec.DiskTemplate != "drbd" || rec.CreatingJob != 0 {
			continue
		}
		for i, d := range rec.Disks {
			if d.DRBD == nil {
				continue
			}
			healthy := true
			for _, n := range d.DRBD.Nodes {
				verdict, p := checkDisk(rec, i, n.Node, stateOf(n.Node))
				switch verdict {
				case diskHealthy:
					continue
				case diskReconnect:
					_, err := m.stepCmd(ctx, sc, fmt.Sprintf("vd-adjust-%s-d%d", n.Node, i), nodeCmd{Node: n.Node, Kind: keys.CmdDiskAdjust,
						Instance: rec, Params: keys.DiskParams{Disk: i}})
					if err != nil {
						p.What, p.Remedy = p.What+"; adjust failed: "+api.AsError(err).Message, ""
						res.Problems = append(res.Problems, p)
					} else {
						sc.Logf("%s disk %d on %s: %s: drbdadm adjust", rec.Name, i, n.Node, p.What)
						res.Reconnected = append(res.Reconnected, p)
					}
				case diskSyncing:
					sc.Logf("%s disk %d on %s: %s", rec.Name, i, n.Node, p.What)
					res.Syncing = append(res.Syncing, p)
				default:
					sc.Logf("%s disk %d on %s: %s%s", rec.Name, i, n.Node, p.What, remedyText(p.Remedy))
					res.Problems = append(res.Problems, p)
				}
				healthy = false
			}
			if healthy {
				res.Healthy++
			}
		}
	}
	sc.Logf("verify-disks: %d healthy, %d reconnected, %d resyncing, %d problems", res.Healthy, len(res.Reconnected), len(res.Syncing), len(res.Problems))
	return sc.SetResult(res)
}

func remedyText(r string) string {
	if r == "" {
		return ""
	}
	return "; remedy: " + r
}
