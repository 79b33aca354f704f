package jobs

import (
	"errors"

	"github.com/drover-project/drover/api"
)

var (
	// ErrUnknownKind is returned by Registry.Register for an empty or duplicate kind.
	ErrUnknownKind = errors.New("jobs: bad opcode kind")
	// ErrLeadershipLost is returned by Executor.Run when its fence failed.
	ErrLeadershipLost = api.NewSentinel(api.CodeUnavailable, "jobs: leadership lost")
)
