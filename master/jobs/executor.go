package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Executor runs the jobs of the queue while its master leads. It holds the
// locks in memory, starts jobs in priority then id order, and on start resumes
// the jobs a previous leader left running.
type Executor struct {
	c          *clientv3.Client
	reg        *Registry
	fence      store.Fence
	log        *slog.Logger
	maxRunning int

	locks   *lockSet
	pending map[uint64]*pendingJob
	running map[uint64]bool
	done    chan jobDone
	wg      sync.WaitGroup
}

type pendingJob struct {
	id       uint64
	priority int
	locks    []string
	state    api.JobState
	ops      []api.OpCode
}

// started is what a job is started with: the locks it took (nil for a
// resumed job: it keeps those stored in its record) or the error computing
// them from the cluster state, which fails the job at once.
type started struct {
	locks   []string
	lockErr error
}

type jobDone struct {
	id  uint64
	err error
}

// NewExecutor returns an executor for the leadership fence; log should carry
// the epoch.
func NewExecutor(c *clientv3.Client, reg *Registry, fence store.Fence, maxRunning int, log *slog.Logger) *Executor {
	if maxRunning <= 0 {
		maxRunning = 20
	}
	return &Executor{
		c: c, reg: reg, fence: fence, maxRunning: maxRunning,
		log:     log,
		locks:   newLockSet(),
		pending: map[uint64]*pendingJob{},
		running: map[uint64]bool{},
		done:    make(chan jobDone),
	}
}

// Run runs jobs until ctx ends or leadership is lost (ErrLeadershipLost). It
// returns only after every job goroutine stopped. Any other error means the
// executor could not keep its view of the queue; the caller should give up
// leadership so that the next leader resumes from etcd.
func (e *Executor) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer e.wg.Wait()
	defer cancel()

	rev, resume, err := e.load(ctx)
	if err != nil {
		return err
	}
	// Resumed jobs re-take their locks first, in job id order.
	for _, j := range resume {
		e.locks.take(j.ID, j.Locks)
		e.start(ctx, j.ID, started{})
	}
	if err := e.schedule(ctx); err != nil {
		return err
	}
	wch := e.c.Watch(clientv3.WithRequireLeader(ctx), keys.JobsPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d := <-e.done:
			e.locks.release(d.id)
			delete(e.running, d.id)
			if d.err != nil {
				if errors.Is(d.err, store.ErrFenced) {
					return ErrLeadershipLost
				}
				return fmt.Errorf("run job %d: %w", d.id, d.err)
			}
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// Watch broken (compaction, etcd leader change): resync.
				if rev, _, err = e.load(ctx); err != nil {
					return err
				}
				wch = e.c.Watch(clientv3.WithRequireLeader(ctx), keys.JobsPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
				break
			}
			for _, ev := range wr.Events {
				if err := e.observe(ev); err != nil {
					return err
				}
			}
		}
		if err := e.schedule(ctx); err != nil {
			return err
		}
	}
}

// load reads the queue: queued and waiting jobs become pending; it returns the
// jobs found running (to resume) and the revision read at.
func (e *Executor) load(ctx context.Context) (int64, []api.Job, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := e.c.Get(tctx, keys.JobsPrefix, clientv3.WithPrefix())
	if err != nil {
		return 0, nil, fmt.Errorf("load jobs: %w", err)
	}
	clear(e.pending)
	var resume []api.Job
	for _, kv := range resp.Kvs {
		var j api.Job
		if err := json.Unmarshal(kv.Value, &j); err != nil {
			return 0, nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		if e.running[j.ID] {
			continue
		}
		switch j.State {
		case api.JobQueued, api.JobWaiting:
			e.pending[j.ID] = &pendingJob{id: j.ID, priority: j.Priority, locks: j.Locks, state: j.State, ops: j.Ops}
		case api.JobRunning, api.JobCanceling:
			resume = append(resume, j)
		}
	}
	slices.SortFunc(resume, func(a, b api.Job) int { return cmp.Compare(a.ID, b.ID) })
	return resp.Header.Revision, resume, nil
}

// observe updates the pending set from one watch event.
func (e *Executor) observe(ev *clientv3.Event) error {
	id, ok := keys.JobIDFromKey(string(ev.Kv.Key))
	if !ok || e.running[id] {
		return nil
	}
	if ev.Type == clientv3.EventTypeDelete {
		delete(e.pending, id)
		return nil
	}
	var j api.Job
	if err := json.Unmarshal(ev.Kv.Value, &j); err != nil {
		return fmt.Errorf("decode %s: %w", ev.Kv.Key, err)
	}
	if j.State == api.JobQueued || j.State == api.JobWaiting {
		e.pending[id] = &pendingJob{id: id, priority: j.Priority, locks: j.Locks, state: j.State, ops: j.Ops}
	} else {
		delete(e.pending, id)
	}
	return nil
}

// schedule starts the pending jobs whose locks are free, in priority then id
// order. Locks wanted by an earlier waiting job are not given to a later one.
func (e *Executor) schedule(ctx context.Context) error {
	order := make([]*pendingJob, 0, len(e.pending))
	for _, p := range e.pending {
		order = append(order, p)
	}
	slices.SortFunc(order, func(a, b *pendingJob) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), cmp.Compare(a.id, b.id))
	})
	blocked := newLockSet()
	for _, p := range order {
		full := len(e.running) >= e.maxRunning
		st := started{locks: p.locks}
		if !full && !e.locks.conflicts(p.id, p.locks, blocked) {
			// Locks computed from the cluster state, only once the static
			// ones are free (an etcd read per candidate, not per waiter).
			st.locks, st.lockErr = e.reg.stateLocks(ctx, p.ops, p.locks)
			if st.lockErr != nil {
				st.locks = p.locks
				e.log.Warn("job_locks_failed", "job_id", p.id, "error", st.lockErr)
			}
		}
		if full || e.locks.conflicts(p.id, st.locks, blocked) {
			blocked.take(p.id, st.locks)
			if !full && p.state == api.JobQueued {
				if err := e.markWaiting(ctx, p.id); err != nil {
					return err
				}
				p.state = api.JobWaiting
			}
			continue
		}
		e.locks.take(p.id, st.locks)
		delete(e.pending, p.id)
		e.start(ctx, p.id, st)
	}
	return nil
}

// start runs job id in its own goroutine.
func (e *Executor) start(ctx context.Context, id uint64, st started) {
	e.running[id] = true
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		err := e.runJob(ctx, id, st)
		if ctx.Err() != nil {
			return
		}
		select {
		case e.done <- jobDone{id: id, err: err}:
		case <-ctx.Done():
		}
	}()
}

// markWaiting records that a queued job waits for locks.
func (e *Executor) markWaiting(ctx context.Context, id uint64) error {
	var j api.Job
	rev, err := store.GetJSON(ctx, e.c, keys.JobKey(id), &j)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if j.State != api.JobQueued {
		return nil
	}
	j.State = api.JobWaiting
	appendLog(&j, -1, "info", "waiting for locks")
	_, err = e.write(ctx, &j, rev)
	if errors.Is(err, store.ErrConflict) {
		return nil // canceled meanwhile; the watch tells us
	}
	return err
}

// write stores j with a fenced compare-and-swap on its revision, together with
// the step's compares and writes; it returns the job's new revision.
func (e *Executor) write(ctx context.Context, j *api.Job, rev int64, extra ...*StepContext) (int64, error) {
	put, err := store.PutJSON(keys.JobKey(j.ID), j)
	if err != nil {
		return 0, err
	}
	cmps := []clientv3.Cmp{store.Unchanged(keys.JobKey(j.ID), rev)}
	ops := []clientv3.Op{put}
	if j.State.Finished() {
		ops = append(ops, clientv3.OpDelete(keys.JobCancelKey(j.ID))) // a request that came too late
	}
	for _, sc := range extra {
		cmps = append(cmps, sc.cmps...)
		ops = append(ops, sc.ops...)
	}
	resp, err := e.fence.Txn(ctx, e.c, cmps, ops...)
	if err != nil {
		return 0, fmt.Errorf("write job %d: %w", j.ID, err)
	}
	return resp.Header.Revision, nil
}
