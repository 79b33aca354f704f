package store

import "github.com/drover-project/drover/api"

var (
	// ErrFenced is returned when a leader-only write is refused because the
	// writer no longer holds the election key it was elected with.
	ErrFenced = api.NewSentinel(api.CodeUnavailable, "store: fenced: leadership lost")
	// ErrConflict is returned when a compare-and-swap lost a race.
	ErrConflict = api.NewSentinel(api.CodeWrongState, "store: conflict")
	// ErrNotFound is returned when a key does not exist.
	ErrNotFound = api.NewSentinel(api.CodeUnknownEntity, "store: not found")
)
