package jobs

import "errors"

var (
	// ErrUnknownKind is returned by Registry.Register for an empty or duplicate kind.
	ErrUnknownKind = errors.New("jobs: bad opcode kind")
	// ErrLeadershipLost is returned by Executor.Run when its fence failed.
	ErrLeadershipLost = errors.New("jobs: leadership lost")
)
