package jobs

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Cancel of a running job. `job cancel` writes keys.JobCancelKey; before
// each step the executor looks for it. When it is there the job becomes
// canceling (checkpointed), the Undo of each done step of the running
// opcode runs, last first, each followed by a checkpoint that lowers
// steps_done, and the job ends canceled (opcodes already done stay done;
// later ones are canceled). A leader that takes over a canceling job goes on
// with the undo from its checkpoint. An undo that fails ends the job in
// error with the undo's error.

// cancelRequested reports whether job id was asked to stop.
func (e *Executor) cancelRequested(ctx context.Context, id uint64) (bool, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := e.c.Get(tctx, keys.JobCancelKey(id), clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("read cancel request of job %d: %w", id, err)
	}
	return resp.Count > 0, nil
}

// cancelOp stops j at a step boundary of opcode i and undoes its done steps.
func (e *Executor) cancelOp(ctx context.Context, j *api.Job, rev int64, i int, steps []Step) (int64, error) {
	log := e.log.With("job_id", j.ID, "op", i, "kind", j.Ops[i].Kind)
	var err error
	if j.State != api.JobCanceling {
		j.State, j.CancelRequested = api.JobCanceling, true
		appendLog(j, i, "info", fmt.Sprintf("cancel requested: undoing %d done step(s) of opcode %d", j.OpStatus[i].StepsDone, i))
		log.Info("job_canceling", "steps_done", j.OpStatus[i].StepsDone)
		if rev, err = e.write(ctx, j, rev); err != nil {
			return e.checkpointFailed(ctx, j, rev, i, err)
		}
	}
	for s := min(j.OpStatus[i].StepsDone, len(steps)) - 1; s >= 0; s-- {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		sc := &StepContext{JobID: j.ID, Op: i, Client: e.c, Epoch: e.fence.Epoch, Log: log}
		if undo := steps[s].Undo; undo != nil {
			if err := runStep(ctx, Step{Name: "undo " + steps[s].Name, Run: undo}, sc); err != nil {
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				sc.appendLines(j)
				return e.fail(ctx, j, rev, i, fmt.Errorf("cancel: undo of step %s: %w", steps[s].Name, err))
			}
			sc.Logf("step %s undone", steps[s].Name)
		}
		j.OpStatus[i].StepsDone = s
		sc.appendLines(j)
		if rev, err = e.write(ctx, j, rev, sc); err != nil {
			return e.checkpointFailed(ctx, j, rev, i, err)
		}
	}
	now := time.Now().UTC()
	j.State, j.EndedAt = api.JobCanceled, &now
	for k := i; k < len(j.OpStatus); k++ {
		j.OpStatus[k].State = api.JobCanceled
	}
	appendLog(j, -1, "info", "job canceled")
	log.Info("job_canceled")
	return e.write(ctx, j, rev)
}
