package master

import (
	"context"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

func (m *Master) opInstanceReboot() jobs.Kind {
	return instanceKind(api.OpInstanceReboot, func(p api.InstanceName) string { return p.Name },
		func(ctx context.Context, p api.InstanceName) error {
			rec, _, err := m.instanceRecord(ctx, p.Name)
			if err != nil {
				return err
			}
			if !rec.AdminUp {
				return api.Errorf(api.CodeWrongState, "instance %s is marked down; use startup", p.Name)
			}
			return nil
		},
		func(p api.InstanceName) []jobs.Step {
			return []jobs.Step{{Name: "reboot", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				rec, _, err := m.instanceRecord(ctx, p.Name)
				if err != nil {
					return err
				}
				if !rec.AdminUp {
					return api.Errorf(api.CodeWrongState, "instance %s is marked down; use startup", p.Name)
				}
				if _, err := m.stepCmd(ctx, sc, "reboot", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceReboot, Instance: *rec, Timeout: 5 * time.Minute}); err != nil {
					return err
				}
				sc.Logf("instance %s rebooted", p.Name)
				return nil
			}}}
		})
}
