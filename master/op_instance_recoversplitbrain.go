package master

import (
	"context"
	"fmt"
	"slices"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// instance.recover-split-brain NAME --discard NODE: the operator's decision
// after verify-disks reported a split brain (drover never resolves one by
// itself). NODE's changes since the split are discarded (it must be a
// secondary there), the other side reconnects, NODE resyncs from it.
func (m *Master) opInstanceRecoverSplitBrain() jobs.Kind {
	check := func(ctx context.Context, p api.InstanceRecoverSplitBrain) (*keys.InstanceRecord, string, error) {
		rec, _, err := m.instanceRecord(ctx, p.Name)
		if err != nil {
			return nil, "", err
		}
		if rec.DiskTemplate != "drbd" {
			return nil, "", api.Errorf(api.CodeWrongState, "instance %s has disk template %s: no DRBD split brain", rec.Name, rec.DiskTemplate)
		}
		peers := []string{rec.PrimaryNode, replSecondary(*rec)}
		if !slices.Contains(peers, p.Discard) {
			return nil, "", api.Errorf(api.CodeWrongInput, "node %s holds no disk of %s (its nodes: %v)", p.Discard, rec.Name, peers)
		}
		keep := peers[0]
		if keep == p.Discard {
			keep = peers[1]
		}
		return rec, keep, nil
	}
	return instanceKind(api.OpInstanceRecoverSplitBrain, func(p api.InstanceRecoverSplitBrain) string { return p.Name },
		func(ctx context.Context, p api.InstanceRecoverSplitBrain) error {
			_, _, err := check(ctx, p)
			return err
		},
		func(p api.InstanceRecoverSplitBrain) []jobs.Step {
			return []jobs.Step{{Name: "recover", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				rec, keep, err := check(ctx, p)
				if err != nil {
					return err
				}
				sc.Logf("%s: discarding the changes of %s since the split; %s's data is kept", rec.Name, p.Discard, keep)
				for i := range rec.Disks {
					for _, c := range []struct{ node, kind string }{{p.Discard, keys.CmdDiskDiscard}, {keep, keys.CmdDiskAdjust}} {
						if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("sb-%s-%s-d%d", c.kind, c.node, i), nodeCmd{Node: c.node, Kind: c.kind,
							Instance: *rec, Params: keys.DiskParams{Disk: i}}); err != nil {
							return fmt.Errorf("%s of %s on %s: %w", c.kind, rec.Name, c.node, err)
						}
					}
				}
				took, err := m.waitUpToDate(ctx, sc, *rec, p.Discard, keep)
				if err == nil {
					sc.Logf("%s: %s resynced from %s in %.1f s", rec.Name, p.Discard, keep, took.Seconds())
				}
				return err
			}}}
		})
}
