package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Limits of a submitted job.
const (
	MaxOpsPerJob = 100
	MinPriority  = -20
	MaxPriority  = 19
)

// Queue is the job queue as every master sees it: submit, read, cancel, wait.
type Queue struct {
	c   *clientv3.Client
	reg *Registry
	log *slog.Logger
}

// NewQueue returns a queue over c with the opcode kinds of reg.
func NewQueue(c *clientv3.Client, reg *Registry, log *slog.Logger) *Queue {
	return &Queue{c: c, reg: reg, log: log}
}

// Submit validates sub and stores it as a new queued job; it returns the id.
func (q *Queue) Submit(ctx context.Context, by api.Principal, sub api.JobSubmit) (uint64, error) {
	if len(sub.Ops) == 0 {
		return 0, api.Errorf(api.CodeWrongInput, "job without opcodes")
	}
	if len(sub.Ops) > MaxOpsPerJob {
		return 0, api.Errorf(api.CodeWrongInput, "job with %d opcodes (at most %d)", len(sub.Ops), MaxOpsPerJob)
	}
	if sub.Priority < MinPriority || sub.Priority > MaxPriority {
		return 0, api.Errorf(api.CodeWrongInput, "priority %d not in %d..%d", sub.Priority, MinPriority, MaxPriority)
	}
	for i, op := range sub.Ops {
		k, ok := q.reg.Lookup(op.Kind)
		if !ok {
			return 0, api.Errorf(api.CodeWrongInput, "opcode %d: unknown kind %q", i, op.Kind)
		}
		if k.Validate != nil {
			if err := k.Validate(ctx, op.Params); err != nil {
				return 0, fmt.Errorf("opcode %d (%s): %w", i, op.Kind, err)
			}
		}
	}
	now := time.Now().UTC()
	job := api.Job{
		State:      api.JobQueued,
		Priority:   sub.Priority,
		Submitter:  by.User,
		Ops:        sub.Ops,
		OpStatus:   make([]api.OpStatus, len(sub.Ops)),
		Locks:      q.reg.locksOf(sub.Ops),
		ReceivedAt: now,
	}
	for i, op := range sub.Ops {
		job.OpStatus[i] = api.OpStatus{Kind: op.Kind, State: api.JobQueued}
	}
	job.Log = []api.JobLogEntry{{Serial: 1, Time: now, Op: -1, Level: "info", Message: "job submitted by " + by.User}}
	for {
		id, rev, err := q.lastID(ctx)
		if err != nil {
			return 0, err
		}
		job.ID = id + 1
		put, err := store.PutJSON(keys.JobKey(job.ID), job)
		if err != nil {
			return 0, err
		}
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := q.c.Txn(tctx).
			If(store.Unchanged(keys.JobSeqKey, rev), store.Absent(keys.JobKey(job.ID))).
			Then(clientv3.OpPut(keys.JobSeqKey, strconv.FormatUint(job.ID, 10)), put).Commit()
		cancel()
		if err != nil {
			return 0, fmt.Errorf("submit job: %w", err)
		}
		if resp.Succeeded {
			return job.ID, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("submit job: %w", err)
		}
	}
}

// lastID reads the job counter and its mod revision.
func (q *Queue) lastID(ctx context.Context) (uint64, int64, error) {
	ctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := q.c.Get(ctx, keys.JobSeqKey)
	if err != nil {
		return 0, 0, fmt.Errorf("read job counter: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, 0, nil
	}
	id, err := strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("job counter %q: %w", resp.Kvs[0].Value, err)
	}
	return id, resp.Kvs[0].ModRevision, nil
}

// Get returns job id from the queue or the archive (unknown_entity if neither).
func (q *Queue) Get(ctx context.Context, id uint64) (*api.Job, error) {
	j, _, err := q.get(ctx, id)
	return j, err
}

// get also returns the mod revision of the queue record (0 when archived).
func (q *Queue) get(ctx context.Context, id uint64) (*api.Job, int64, error) {
	var j api.Job
	rev, err := store.GetJSON(ctx, q.c, keys.JobKey(id), &j)
	if err == nil {
		return &j, rev, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, 0, err
	}
	if _, err := store.GetJSON(ctx, q.c, keys.ArchiveJobKey(id), &j); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, api.Errorf(api.CodeUnknownEntity, "job %d not found", id)
		}
		return nil, 0, err
	}
	j.Archived = true
	return &j, 0, nil
}

// List returns the jobs that match f, newest first.
func (q *Queue) List(ctx context.Context, f api.JobFilter) ([]api.Job, error) {
	prefixes := []string{keys.JobsPrefix}
	if f.Archived {
		prefixes = append(prefixes, keys.ArchiveJobsPrefix)
	}
	var out []api.Job
	for _, p := range prefixes {
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := q.c.Get(tctx, p, clientv3.WithPrefix())
		cancel()
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		for _, kv := range resp.Kvs {
			var j api.Job
			if err := json.Unmarshal(kv.Value, &j); err != nil {
				return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
			}
			j.Archived = p == keys.ArchiveJobsPrefix
			if len(f.States) == 0 || slices.Contains(f.States, j.State) {
				out = append(out, j)
			}
		}
	}
	slices.SortFunc(out, func(a, b api.Job) int {
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Cancel cancels a job. A queued or waiting job is canceled at once. A
// running job is asked to stop (keys.JobCancelKey): the executor stops it at
// its next step boundary, runs the undo of the running opcode's done steps
// and ends it canceled (see cancel.go). Finished jobs give wrong_state.
func (q *Queue) Cancel(ctx context.Context, id uint64) error {
	for {
		j, rev, err := q.get(ctx, id)
		if err != nil {
			return err
		}
		if rev != 0 && (j.State == api.JobRunning || j.State == api.JobCanceling) {
			done, err := q.requestCancel(ctx, id, rev)
			if done || err != nil {
				return err
			}
			continue
		}
		if rev == 0 || (j.State != api.JobQueued && j.State != api.JobWaiting) {
			return api.Errorf(api.CodeWrongState, "job %d is %s; only queued, waiting or running jobs can be canceled", id, j.State)
		}
		now := time.Now().UTC()
		j.State, j.CancelRequested, j.EndedAt = api.JobCanceled, true, &now
		for i := range j.OpStatus {
			j.OpStatus[i].State = api.JobCanceled
		}
		appendLog(j, -1, "info", "job canceled")
		put, err := store.PutJSON(keys.JobKey(id), j)
		if err != nil {
			return err
		}
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := q.c.Txn(tctx).If(store.Unchanged(keys.JobKey(id), rev)).Then(put).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("cancel job %d: %w", id, err)
		}
		if resp.Succeeded {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cancel job %d: %w", id, err)
		}
	}
}

// Wait returns job id when its state or log length differs from what the
// caller knows, when it is finished, or when timeout passes.
func (q *Queue) Wait(ctx context.Context, id uint64, knownState api.JobState, knownLog int, timeout time.Duration) (*api.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	changed := func(j *api.Job) bool {
		return j.State != knownState || len(j.Log) != knownLog || j.State.Finished()
	}
	j, rev, err := q.get(ctx, id)
	if err != nil || rev == 0 || changed(j) {
		return j, err
	}
	// The watch starts at the store's head (a watch that starts behind it is
	// caught up by etcd only every 100 ms); once it exists, read again, so that
	// a change made before the watch started is not missed.
	wch := q.c.Watch(clientv3.WithRequireLeader(ctx), keys.JobKey(id), clientv3.WithCreatedNotify())
	for {
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				// Timeout: answer with the job as it is now.
				return q.Get(context.WithoutCancel(ctx), id)
			}
			return nil, fmt.Errorf("wait job %d: %w", id, ctx.Err())
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				// Watch broken (compaction, no leader): fall back to a read.
				return q.Get(context.WithoutCancel(ctx), id)
			}
			if wr.Created {
				nj, nrev, err := q.get(ctx, id)
				if err != nil || nrev == 0 || changed(nj) {
					return nj, err
				}
				rev = nrev
				continue
			}
			for _, ev := range wr.Events {
				if ev.Kv.ModRevision <= rev {
					continue // already seen by the read
				}
				if ev.Type == clientv3.EventTypeDelete {
					return q.Get(context.WithoutCancel(ctx), id) // archived
				}
				var nj api.Job
				if err := json.Unmarshal(ev.Kv.Value, &nj); err != nil {
					return nil, fmt.Errorf("decode job %d: %w", id, err)
				}
				if changed(&nj) {
					return &nj, nil
				}
			}
		}
	}
}

// appendLog adds a line to j's log with the next serial.
func appendLog(j *api.Job, op int, level, msg string) {
	j.Log = append(j.Log, api.JobLogEntry{
		Serial: len(j.Log) + 1, Time: time.Now().UTC(), Op: op, Level: level, Message: msg,
	})
}

// requestCancel writes the cancel request of running job id, if its record
// is still at rev; it reports whether it did.
func (q *Queue) requestCancel(ctx context.Context, id uint64, rev int64) (bool, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := q.c.Txn(tctx).If(store.Unchanged(keys.JobKey(id), rev)).
		Then(clientv3.OpPut(keys.JobCancelKey(id), time.Now().UTC().Format(time.RFC3339Nano))).Commit()
	if err != nil {
		return false, fmt.Errorf("cancel job %d: %w", id, err)
	}
	if !resp.Succeeded {
		return false, ctx.Err()
	}
	return true, nil
}
