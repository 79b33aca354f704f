package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// opInstanceDeactivateDisks takes the disks of a stopped plain or drbd
// instance down (Ganeti's deactivate-disks) and marks them so: the leader
// does not bring them back by itself; activate-disks or startup does.
func (m *Master) opInstanceDeactivateDisks() jobs.Kind {
	check := func(ctx context.Context, rec *keys.InstanceRecord) error {
		if !isBlockTemplate(rec.DiskTemplate) {
			return api.Errorf(api.CodeWrongState, "instance %s has disk template %s: no disks to deactivate", rec.Name, rec.DiskTemplate)
		}
		return m.requireStopped(ctx, rec, "deactivate its disks")
	}
	return instanceKind(api.OpInstanceDeactivateDisks, func(p api.InstanceName) string { return p.Name },
		func(ctx context.Context, p api.InstanceName) error {
			rec, _, err := m.instanceRecord(ctx, p.Name)
			if err != nil {
				return err
			}
			return check(ctx, rec)
		},
		func(p api.InstanceName) []jobs.Step {
			return []jobs.Step{{Name: "deactivate", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				rec, _, err := m.instanceRecord(ctx, p.Name)
				if err != nil {
					return err
				}
				if err := check(ctx, rec); err != nil {
					return err
				}
				// The leader's rejoin jobs wait for this job's instance
				// lock, and then find the disks marked down.
				if err := m.deactivateDisks(ctx, sc, rec); err != nil {
					return err
				}
				_, err = m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
					changed := !r.DisksDown
					r.DisksDown = true
					return changed, nil
				})
				return err
			}}}
		})
}
