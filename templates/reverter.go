package templates

import (
	"errors"
	"log/slog"
)

// reverter collects undo steps of a multi-step change. Use it as
//
//	r := newReverter(log)
//	defer r.Fail()
//	... step; r.Add(undo) ...
//	r.Success()
//
// Fail runs the undo steps in reverse order unless Success was called first.
type reverter struct {
	log   *slog.Logger
	undos []func() error
	done  bool
}

func newReverter(log *slog.Logger) *reverter { return &reverter{log: log} }

// Add registers an undo step for the step just done.
func (r *reverter) Add(undo func() error) { r.undos = append(r.undos, undo) }

// Success disarms the reverter: later Fail calls do nothing.
func (r *reverter) Success() { r.done = true }

// Fail undoes every step in reverse order, unless Success was called. It
// returns the joined errors of the undo steps (also logged).
func (r *reverter) Fail() error {
	if r.done {
		return nil
	}
	r.done = true
	var errs []error
	for i := len(r.undos) - 1; i >= 0; i-- {
		if err := r.undos[i](); err != nil {
			r.log.Warn("revert_step_failed", "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
