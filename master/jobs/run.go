package jobs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// runJob starts (or resumes) job id and runs its remaining steps, writing a
// fenced checkpoint after each. It returns nil when the job reached a final
// state or was not runnable, the context's error when leadership ended, and
// other errors when etcd failed it.
func (e *Executor) runJob(ctx context.Context, id uint64, st started) error {
	log := e.log.With("job_id", id)
	var j api.Job
	rev, err := store.GetJSON(ctx, e.c, keys.JobKey(id), &j)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	resumed := false
	switch j.State {
	case api.JobQueued, api.JobWaiting:
	case api.JobRunning, api.JobCanceling:
		resumed = true
	default:
		return nil
	}
	now := time.Now().UTC()
	if j.State != api.JobCanceling {
		j.State = api.JobRunning
	}
	if j.StartedAt == nil {
		j.StartedAt = &now
	}
	j.Runs++
	j.Epoch = e.fence.Epoch
	if !resumed && st.locks != nil {
		j.Locks = st.locks // with those computed from the cluster state
	}
	first := 0
	for first < len(j.OpStatus) && j.OpStatus[first].State == api.JobSuccess {
		first++
	}
	if first < len(j.OpStatus) {
		j.OpStatus[first].State = api.JobRunning
	}
	if resumed {
		appendLog(&j, -1, "info", fmt.Sprintf("job resumed by leader epoch %d (run %d)", e.fence.Epoch, j.Runs))
		log.Info("job_resumed", "run", j.Runs)
	} else {
		appendLog(&j, -1, "info", "job started")
		log.Debug("job_started")
	}
	if rev, err = e.write(ctx, &j, rev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // canceled while we started it
		}
		return err
	}
	if st.lockErr != nil && first < len(j.Ops) {
		_, err := e.fail(ctx, &j, rev, first, fmt.Errorf("compute locks: %w", st.lockErr))
		return err
	}
	for i := first; i < len(j.Ops); i++ {
		if rev, err = e.runOp(ctx, &j, rev, i); err != nil {
			return err
		}
		if j.State.Finished() {
			break
		}
	}
	log.Info("job_finished", "state", j.State)
	return nil
}

// runOp runs the remaining steps of opcode i of j.
func (e *Executor) runOp(ctx context.Context, j *api.Job, rev int64, i int) (int64, error) {
	op := j.Ops[i]
	log := e.log.With("job_id", j.ID, "op", i, "kind", op.Kind)
	k, ok := e.reg.Lookup(op.Kind)
	if !ok {
		return e.fail(ctx, j, rev, i, api.Errorf(api.CodeWrongInput, "unknown opcode kind %q", op.Kind))
	}
	steps, err := k.Steps(op.Params)
	if err != nil {
		return e.fail(ctx, j, rev, i, err)
	}
	if j.State == api.JobCanceling { // resumed while canceling
		return e.cancelOp(ctx, j, rev, i, steps)
	}
	for s := j.OpStatus[i].StepsDone; s <= len(steps); s++ {
		sc := &StepContext{JobID: j.ID, Op: i, Client: e.c, Epoch: e.fence.Epoch, Log: log}
		if s < len(steps) {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			if canceled, err := e.cancelRequested(ctx, j.ID); err != nil {
				return 0, err
			} else if canceled {
				return e.cancelOp(ctx, j, rev, i, steps)
			}
			if err := runStep(ctx, steps[s], sc); err != nil {
				if ctx.Err() != nil {
					return 0, ctx.Err() // leadership ended: the next leader re-runs the step
				}
				// What the failed step did (a revert, say) stays in the log.
				sc.appendLines(j)
				return e.fail(ctx, j, rev, i, fmt.Errorf("step %s: %w", steps[s].Name, err))
			}
			j.OpStatus[i].StepsDone = s + 1
			if sc.result != nil {
				j.OpStatus[i].Result = sc.result
			}
			sc.appendLines(j)
		}
		if s < len(steps)-1 {
			nrev, err := e.write(ctx, j, rev, sc)
			if err != nil {
				return e.checkpointFailed(ctx, j, rev, i, err)
			}
			rev = nrev
			continue
		}
		// Last step (or an opcode without steps): the opcode is done, and with
		// the last opcode the job, in the same checkpoint.
		j.OpStatus[i].State = api.JobSuccess
		if i+1 < len(j.Ops) {
			j.OpStatus[i+1].State = api.JobRunning
		} else {
			now := time.Now().UTC()
			j.State, j.EndedAt, j.Result = api.JobSuccess, &now, j.OpStatus[i].Result
			appendLog(j, -1, "info", "job succeeded")
		}
		nrev, err := e.write(ctx, j, rev, sc)
		if err != nil {
			return e.checkpointFailed(ctx, j, rev, i, err)
		}
		return nrev, nil
	}
	return rev, nil
}

// checkpointFailed handles a failed checkpoint: lost leadership and etcd
// errors end the run; a step's own compare that failed fails the job.
func (e *Executor) checkpointFailed(ctx context.Context, j *api.Job, rev int64, i int, err error) (int64, error) {
	if !errors.Is(err, store.ErrConflict) {
		return 0, err
	}
	var cur api.Job
	nrev, gerr := store.GetJSON(ctx, e.c, keys.JobKey(j.ID), &cur)
	if gerr != nil {
		return 0, gerr
	}
	if nrev != rev {
		return 0, fmt.Errorf("job %d changed under the executor: %w", j.ID, err)
	}
	*j = cur
	return e.fail(ctx, j, rev, i, api.Errorf(api.CodeWrongState, "concurrent change of the objects of opcode %d", i))
}

// fail ends j in state error with err's code; later opcodes are marked error too.
func (e *Executor) fail(ctx context.Context, j *api.Job, rev int64, i int, err error) (int64, error) {
	ae := api.AsError(err)
	now := time.Now().UTC()
	j.State, j.Error, j.EndedAt = api.JobError, ae, &now
	for k := i; k < len(j.OpStatus); k++ {
		j.OpStatus[k].State = api.JobError
	}
	appendLog(j, i, "error", fmt.Sprintf("opcode %d (%s) failed: %s", i, j.Ops[i].Kind, ae.Error()))
	e.log.Info("job_failed", "job_id", j.ID, "op", i, "code", ae.Code, "error", ae.Message)
	return e.write(ctx, j, rev)
}

// runStep runs one step; a panic fails the job (internal) instead of the master.
func runStep(ctx context.Context, st Step, sc *StepContext) (err error) {
	defer func() {
		if r := recover(); r != nil {
			sc.Log.Error("step_panicked", "step", st.Name, "panic", r, "stack", string(debug.Stack()))
			err = api.Errorf(api.CodeInternal, "step %s panicked: %v", st.Name, r)
		}
	}()
	return st.Run(ctx, sc)
}
