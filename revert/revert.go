// Package revert is the one undo helper of a multi-step change made in one
// process (the agent's create, a template install): add the undo of each
// step once it is done, defer Fail, call Success at the end. A job's steps,
// which outlive a process, are undone the same way (last first) by the job
// executor from their Step.Undo (master/jobs/cancel.go).
//
//	r := revert.New(log)
//	defer r.Fail()
//	... step 1 ...; r.Add(undo1)
//	... step 2 ...; r.Add(undo2)
//	r.Success()
package revert

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Timeout bounds the undo steps of one Fail: they run on a fresh context,
// since the change's own context may be what failed.
const Timeout = 2 * time.Minute

// Reverter collects undo steps. The zero value is not usable; call New.
type Reverter struct {
	log   *slog.Logger
	undos []func(context.Context) error
	done  bool
}

// New returns a Reverter that logs failed undo steps to log (nil: discard).
func New(log *slog.Logger) *Reverter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reverter{log: log}
}

// Add registers the undo of the step just done.
func (r *Reverter) Add(undo func(ctx context.Context) error) { r.undos = append(r.undos, undo) }

// Success disarms r: a later Fail does nothing.
func (r *Reverter) Success() { r.done = true }

// Fail runs the undo steps, last first, unless Success was called; every
// step runs even when an earlier one failed. It returns their joined errors
// (each also logged). A second Fail does nothing.
func (r *Reverter) Fail() error {
	if r.done {
		return nil
	}
	r.done = true
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var errs []error
	for i := len(r.undos) - 1; i >= 0; i-- {
		if err := r.undos[i](ctx); err != nil {
			r.log.Warn("revert_step_failed", "step", i, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
