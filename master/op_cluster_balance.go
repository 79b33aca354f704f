package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// cluster.balance: the first opcode of a balance job (node_moves_expand.go);
// with dry_run the job is only this opcode, which reports the plan. The
// moves lock their instances; the balance itself locks nothing more.
func (m *Master) opClusterBalance() jobs.Kind {
	return plannedKind(api.OpClusterBalance, func(api.ClusterBalance) []string { return nil },
		func(context.Context, api.ClusterBalance) error { return nil })
}
