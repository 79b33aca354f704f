package master

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// opClusterRepair removes the orphans cluster verify lists: for each, a
// remove command to its node that names the orphan's UUID, so the agent
// removes only what carries that UUID. It holds the cluster lock, so no
// create, rename or remove runs meanwhile. Orphans on nodes that are not
// reachable are reported and left.
func (m *Master) opClusterRepair() jobs.Kind {
	return jobs.Kind{
		Name: api.OpClusterRepair,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			_, err := parseOp[api.ClusterRepair](raw)
			return err
		},
		Locks: func(json.RawMessage) []string { return []string{"cluster"} },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parseOp[api.ClusterRepair](raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{{Name: "orphans", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				return m.repairOrphans(ctx, sc, p)
			}}}, nil
		},
	}
}

func (m *Master) repairOrphans(ctx context.Context, sc *jobs.StepContext, p api.ClusterRepair) error {
	orphans, err := m.findOrphans(ctx)
	if err != nil {
		return err
	}
	if len(orphans) == 0 {
		sc.Logf("no orphans found")
		return sc.SetResult(repairResult{Removed: []string{}})
	}
	res := repairResult{Removed: []string{}}
	var failed int
	for _, o := range orphans {
		what := fmt.Sprintf("%s on %s (uuid %s, %s)", o.Name, o.Node, orDefault(o.UUID, "unknown"), o.State)
		if p.DryRun {
			sc.Logf("would remove orphan %s", what)
			res.Removed = append(res.Removed, o.Node+"/"+o.Name)
			continue
		}
		inst := keys.InstanceRecord{Name: o.Name, UUID: o.UUID, PrimaryNode: o.Node}
		if _, err := m.stepCmd(ctx, sc, "remove-"+o.Node+"-"+o.Name, nodeCmd{Node: o.Node, Kind: keys.CmdInstanceRemove, Instance: inst}); err != nil {
			if ctx.Err() != nil {
				return err
			}
			sc.Logf("orphan %s NOT removed: %s", what, api.AsError(err).Message)
			failed++
			continue
		}
		sc.Logf("orphan %s removed", what)
		res.Removed = append(res.Removed, o.Node+"/"+o.Name)
	}
	if failed > 0 {
		return api.Errorf(api.CodeWrongState, "%d of %d orphans could not be removed (see the job log)", failed, len(orphans))
	}
	return sc.SetResult(res)
}

// repairResult is the result of cluster.repair.
type repairResult struct {
	// Removed lists "node/name" of the orphans removed (or, with dry_run,
	// that would be).
	Removed []string `json:"removed"`
}
