package master

import (
	"context"
	"log/slog"

	"github.com/drover-project/drover/master/store"
)

// FailoverNode runs the failover controller's step for a fenced node (as
// the liveness controller calls it), for tests.
func (m *Master) FailoverNode(ctx context.Context, node string, log *slog.Logger) error {
	return m.failoverNode(ctx, store.Fence{}, node, log)
}
