package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

func (m *Master) opInstanceGrowDisk() jobs.Kind {
	check := func(rec *keys.InstanceRecord, p api.InstanceGrowDisk) error {
		if rec.DiskTemplate != api.DiskTemplateFile && !isBlockTemplate(rec.DiskTemplate) {
			return api.Errorf(api.CodeWrongState, "instance %s has disk template %s: no disks to grow", rec.Name, rec.DiskTemplate)
		}
		if p.Disk >= len(rec.Disks) {
			return api.Errorf(api.CodeWrongInput, "instance %s has %d disks; no disk %d", rec.Name, len(rec.Disks), p.Disk)
		}
		if rec.Disks[p.Disk].SizeMiB+p.AmountMiB > api.MaxInstanceDiskMiB {
			return api.Errorf(api.CodeWrongInput, "disk %d would exceed %d MiB", p.Disk, api.MaxInstanceDiskMiB)
		}
		return nil
	}
	return instanceKind(api.OpInstanceGrowDisk, func(p api.InstanceGrowDisk) string { return p.Name },
		func(ctx context.Context, p api.InstanceGrowDisk) error {
			rec, _, err := m.instanceRecord(ctx, p.Name)
			if err != nil {
				return err
			}
			return check(rec, p)
		},
		func(p api.InstanceGrowDisk) []jobs.Step {
			return []jobs.Step{
				{Name: "grow-on-node", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					if err := check(rec, p); err != nil {
						return err
					}
					target := rec.Disks[p.Disk].SizeMiB + p.AmountMiB
					if isBlockTemplate(rec.DiskTemplate) {
						return m.growBlockDisk(ctx, sc, rec, p.Disk, target)
					}
					_, err = m.stepCmd(ctx, sc, "grow-disk", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceGrowDisk, Instance: *rec,
						Params: keys.GrowDiskParams{Disk: p.Disk, AmountMiB: p.AmountMiB, SizeMiB: target}})
					if err == nil {
						sc.Logf("disk %d of %s grown to %d MiB", p.Disk, p.Name, target)
					}
					return err
				}},
				{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					_, err := m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
						if p.Disk >= len(r.Disks) {
							return false, api.Errorf(api.CodeWrongState, "disk %d vanished", p.Disk)
						}
						r.Disks[p.Disk].SizeMiB += p.AmountMiB
						return true, nil
					})
					return err
				}},
			}
		})
}
