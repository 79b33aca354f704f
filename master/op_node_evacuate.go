package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// node.evacuate: the first opcode of an evacuation job (node_moves_expand.go).
func (m *Master) opNodeEvacuate() jobs.Kind {
	return plannedKind(api.OpNodeEvacuate, func(p api.NodeEvacuate) []string { return nodeLock(p.Name) },
		func(ctx context.Context, p api.NodeEvacuate) error { return m.checkNodeExists(ctx, p.Name) })
}
