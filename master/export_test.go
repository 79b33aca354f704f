package master

import "context"

// Test hooks for the external tests of this package.
var (
	AllocMACs      = allocMACs
	InstanceStatus = instanceStatus
	MACString      = macString
	Backoff        = backoff
)

// NodeInstanceLocks exposes the locks a node-wide job computes at start.
func (m *Master) NodeInstanceLocks(ctx context.Context, node string) ([]string, error) {
	return m.nodeInstanceLocks(ctx, node)
}
