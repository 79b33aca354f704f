package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// node.migrate: the first opcode of a job that migrates a node's primaries
// to their secondaries (node_moves_expand.go).
func (m *Master) opNodeMigrate() jobs.Kind {
	return plannedKind(api.OpNodeMigrate, func(p api.NodeMigrate) []string { return nodeLock(p.Name) },
		func(ctx context.Context, p api.NodeMigrate) error { return m.checkNodeExists(ctx, p.Name) })
}
