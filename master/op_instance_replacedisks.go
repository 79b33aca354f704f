package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// instance.replace-disks: -n NODE moves the secondary (replaceSecondary),
// -s and -p remake one side's disks from the other (remakeCopy), -a remakes
// what is faulty. See docs/drbd.md.
func (m *Master) opInstanceReplaceDisks() jobs.Kind {
	check := func(ctx context.Context, p api.InstanceReplaceDisks) (*keys.InstanceRecord, error) {
		rec, _, err := m.instanceRecord(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		if rec.DiskTemplate != "drbd" {
			return nil, api.Errorf(api.CodeWrongState, "instance %s has disk template %s: replace-disks is for drbd disks", rec.Name, rec.DiskTemplate)
		}
		if p.Mode == api.ReplaceNewSecondary {
			if p.NewSecondary == rec.PrimaryNode {
				return nil, api.Errorf(api.CodeWrongInput, "node %s is the primary of %s", p.NewSecondary, rec.Name)
			}
			if _, err := m.nodeRecord(ctx, p.NewSecondary); err != nil {
				return nil, err
			}
		}
		return rec, nil
	}
	return instanceKind(api.OpInstanceReplaceDisks, func(p api.InstanceReplaceDisks) string { return p.Name },
		func(ctx context.Context, p api.InstanceReplaceDisks) error { _, err := check(ctx, p); return err },
		func(p api.InstanceReplaceDisks) []jobs.Step {
			return []jobs.Step{{Name: "replace", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				rec, err := check(ctx, p)
				if err != nil {
					return err
				}
				switch p.Mode {
				case api.ReplaceNewSecondary:
					return m.replaceSecondary(ctx, sc, p.Name, p.NewSecondary, "rn")
				case api.ReplaceOnSecondary:
					return m.remakeCopy(ctx, sc, *rec, replSecondary(*rec), "rs")
				case api.ReplaceOnPrimary:
					return m.remakeCopy(ctx, sc, *rec, rec.PrimaryNode, "rp")
				}
				return m.replaceAuto(ctx, sc, *rec)
			}}}
		})
}
