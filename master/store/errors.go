package store

import "errors"

var (
	// ErrFenced is returned when a leader-only write is refused because the
	// writer no longer holds the election key it was elected with.
	ErrFenced = errors.New("store: fenced: leadership lost")
	// ErrConflict is returned when a compare-and-swap lost a race.
	ErrConflict = errors.New("store: conflict")
	// ErrNotFound is returned when a key does not exist.
	ErrNotFound = errors.New("store: not found")
)
