package master

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// opInstanceCleanup clears an instance's failure counts, every node's or
// one node's (Pacemaker's crm_resource --cleanup): a node that
// migration_threshold excluded may be its target again. The counts and
// the cleanup event are written with the step's checkpoint.
func (m *Master) opInstanceCleanup() jobs.Kind {
	return instanceKind(api.OpInstanceCleanup, func(p api.InstanceCleanup) string { return p.Name },
		func(ctx context.Context, p api.InstanceCleanup) error {
			if _, _, err := m.instanceRecord(ctx, p.Name); err != nil {
				return err
			}
			if p.Node != "" {
				if _, err := m.nodeRecord(ctx, p.Node); err != nil {
					return err
				}
			}
			return nil
		},
		func(p api.InstanceCleanup) []jobs.Step {
			return []jobs.Step{{Name: "cleanup", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				rec, _, err := m.instanceRecord(ctx, p.Name)
				if err != nil {
					return err
				}
				ha, err := m.instanceHA(ctx, rec)
				if err != nil {
					return err
				}
				before := slices.Clone(ha.Value.FailCounts)
				ha.Value.FailCounts = slices.DeleteFunc(ha.Value.FailCounts, func(f api.InstanceFailCount) bool {
					return p.Node == "" || f.Node == p.Node
				})
				if len(before) == len(ha.Value.FailCounts) {
					sc.Logf("instance %s has no failure count to clear", p.Name)
					return nil
				}
				what := "every node"
				if p.Node != "" {
					what = p.Node
				}
				msg := fmt.Sprintf("failure counts of %s cleared (were %s)", what, describeCounts(before))
				addHAEvent(&ha.Value, api.InstanceHAEvent{Time: time.Now().UTC(), Kind: haEventCleanup, Node: p.Node, Message: msg})
				ha.Value.Instance = rec.Name
				if err := ha.Put(sc); err != nil {
					return err
				}
				sc.Logf("instance %s: %s", p.Name, msg)
				return nil
			}}}
		})
}

// describeCounts is "node1=2, node2=1".
func describeCounts(fc []api.InstanceFailCount) string {
	s := ""
	for i, f := range fc {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s=%d", f.Node, f.Count)
	}
	return s
}
