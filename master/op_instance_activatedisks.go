package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// opInstanceActivateDisks brings the disks of a plain or drbd instance up
// (Ganeti's activate-disks); with Rejoin (the leader's own, for a node that
// came back) only missing secondaries.
func (m *Master) opInstanceActivateDisks() jobs.Kind {
	return instanceKind(api.OpInstanceActivateDisks, func(p api.InstanceActivateDisks) string { return p.Name },
		func(ctx context.Context, p api.InstanceActivateDisks) error {
			rec, _, err := m.instanceRecord(ctx, p.Name)
			if err != nil {
				return err
			}
			if !isBlockTemplate(rec.DiskTemplate) {
				return api.Errorf(api.CodeWrongState, "instance %s has disk template %s: no disks to activate", rec.Name, rec.DiskTemplate)
			}
			return nil
		},
		func(p api.InstanceActivateDisks) []jobs.Step {
			return []jobs.Step{{Name: "activate", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				rec, _, err := m.instanceRecord(ctx, p.Name)
				if err != nil {
					return err
				}
				if p.Rejoin && rec.DisksDown {
					return nil
				}
				if err := m.activateDisks(ctx, sc, rec, p.Rejoin); err != nil {
					return err
				}
				if p.Rejoin {
					return nil
				}
				_, err = m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
					changed := r.DisksDown
					r.DisksDown = false
					return changed, nil
				})
				return err
			}}}
		})
}
