package allocator

import "errors"

// Sentinel errors. Callers match them with errors.Is; messages carry context.
var (
	// ErrInvalidCluster: the snapshot is inconsistent (duplicate or unknown names...).
	ErrInvalidCluster = errors.New("allocator: invalid cluster")
	// ErrInvalidRequest: the request itself is malformed.
	ErrInvalidRequest = errors.New("allocator: invalid request")
	// ErrUnknownNode: a request names a node the snapshot does not have.
	ErrUnknownNode = errors.New("allocator: unknown node")
	// ErrUnknownInstance: a request names an instance the snapshot does not have.
	ErrUnknownInstance = errors.New("allocator: unknown instance")
	// ErrNoFit: no node (or node pair) passes every filter.
	ErrNoFit = errors.New("allocator: no node fits")
	// ErrNotMovable: the instance's disk template does not allow the move.
	ErrNotMovable = errors.New("allocator: instance cannot be moved")
)
