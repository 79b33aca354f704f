package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// opInstanceFailover moves a drbd instance to its secondary: stop, demote,
// promote the peer, start (see failoverInstance). It locks the instance,
// which serialises every opcode that changes its disks.
func (m *Master) opInstanceFailover() jobs.Kind {
	return instanceKind(api.OpInstanceFailover, func(p api.InstanceFailover) string { return p.Name },
		func(ctx context.Context, p api.InstanceFailover) error {
			rec, _, err := m.instanceRecord(ctx, p.Name)
			if err != nil {
				return err
			}
			timeout, _ := api.ShutdownOptions{Timeout: p.ShutdownTimeout}.ParseTimeout()
			_, err = m.planFailover(ctx, rec, FailoverOptions{IgnoreConsistency: p.IgnoreConsistency, ShutdownTimeout: timeout})
			return err
		},
		func(p api.InstanceFailover) []jobs.Step {
			timeout, _ := api.ShutdownOptions{Timeout: p.ShutdownTimeout}.ParseTimeout()
			opts := FailoverOptions{IgnoreConsistency: p.IgnoreConsistency, ShutdownTimeout: timeout}
			return []jobs.Step{
				{Name: "failover", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					return m.failoverInstance(ctx, sc, p.Name, opts)
				}},
				{Name: "start", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					return m.finishFailover(ctx, sc, p.Name)
				}},
			}
		})
}
