package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// node.failover: the first opcode of a job that fails a node's primaries
// over to their secondaries (node_moves_expand.go).
func (m *Master) opNodeFailover() jobs.Kind {
	return plannedKind(api.OpNodeFailover, func(p api.NodeMigrate) []string { return nodeLock(p.Name) },
		func(ctx context.Context, p api.NodeMigrate) error { return m.checkNodeExists(ctx, p.Name) })
}
