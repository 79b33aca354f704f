package master

import (
	"context"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

func (m *Master) opInstanceShutdown() jobs.Kind {
	return instanceKind(api.OpInstanceShutdown, func(p api.InstanceShutdown) string { return p.Name },
		func(ctx context.Context, p api.InstanceShutdown) error { return m.checkInstance(ctx, p.Name) },
		func(p api.InstanceShutdown) []jobs.Step {
			timeout, _ := p.ParseTimeout()
			return []jobs.Step{
				{Name: "mark-down", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					_, err := m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
						changed := r.AdminUp || r.Restarts != 0 || r.GaveUp
						r.AdminUp, r.Restarts, r.GaveUp = false, 0, false
						return changed, nil
					})
					if err == nil {
						sc.Logf("instance %s marked down", p.Name)
					}
					return err
				}},
				{Name: "shutdown", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					_, err = m.stepCmd(ctx, sc, "shutdown", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceShutdown, Instance: *rec,
						Params: keys.ShutdownParams{TimeoutSeconds: max(1, int(timeout/time.Second))}, Timeout: timeout + time.Minute})
					if err != nil {
						return err
					}
					sc.Logf("instance %s shut down", p.Name)
					return nil
				}},
			}
		})
}
