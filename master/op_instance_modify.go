package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

func (m *Master) opInstanceModify() jobs.Kind {
	return instanceKind(api.OpInstanceModify, func(p api.InstanceModifyOp) string { return p.Name },
		func(ctx context.Context, p api.InstanceModifyOp) error {
			if err := m.checkServiceIP(ctx, p); err != nil {
				return err
			}
			return m.checkModify(ctx, p)
		},
		func(p api.InstanceModifyOp) []jobs.Step {
			return []jobs.Step{
				{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, err := m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
						if p.VCPUs != nil {
							r.VCPUs = *p.VCPUs
						}
						if p.MemoryMiB != nil {
							r.MemoryMiB = *p.MemoryMiB
						}
						if p.ServiceIP != nil {
							r.ServiceIP = *p.ServiceIP
						}
						p.InstanceHAModify.Apply(&r.InstanceHA)
						return true, nil
					})
					if err != nil {
						return err
					}
					sc.Logf("instance %s: vcpus=%d memory=%dMiB service_ip=%s ha_priority=%d migration_threshold=%d failback=%v location=%v", p.Name,
						rec.VCPUs, rec.MemoryMiB, orDefault(rec.ServiceIP, "none"), rec.HAPriority, rec.MigrationThreshold, rec.Failback, rec.Location)
					return nil
				}},
				{Name: "redefine", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					if p.VCPUs == nil && p.MemoryMiB == nil && p.ServiceIP == nil {
						return nil // HA properties only: the domain is the same
					}
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					d, err := m.domainStatus(ctx, rec.PrimaryNode, rec.Name)
					if err != nil {
						return err
					}
					if domainUp(d) {
						sc.Logf("instance %s runs: the new parameters take effect at its next start", p.Name)
						return nil
					}
					if _, _, err := m.nodeUsable(ctx, rec.PrimaryNode); err != nil {
						sc.Logf("node %s not usable (%s): the domain is redefined at the next start", rec.PrimaryNode, api.AsError(err).Message)
						return nil
					}
					if _, err := m.stepCmd(ctx, sc, "modify", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceModify, Instance: *rec}); err != nil {
						// The record holds the new parameters; startup
						// redefines the domain before it starts it.
						sc.Logf("redefining the domain failed (%s): it is redefined at the next start", api.AsError(err).Message)
						return nil
					}
					sc.Logf("domain of %s redefined", p.Name)
					return nil
				}},
			}
		})
}
