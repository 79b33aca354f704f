package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// commandRunner watches the node's command prefix and runs each command
// once (docs/jobs.md, "Node commands run once"):
//   - a command is run only while it is still in etcd: the leader deletes the
//     command of a job step that gave up, and a command deleted while it runs
//     is canceled (a create that lost its job this way is undone);
//   - just before it runs, its epoch is compared with the current leader's
//     (the election key's create revision, read from etcd) and with the
//     highest epoch seen: an older one is refused, not run;
//   - a command that has a result (in etcd, or in the node's journal after
//     an agent restart) is answered from it, not run again;
//   - a command that started and whose command is gone when the agent comes
//     back (it was killed mid-way and its job gave up) is undone when it was
//     a create.
//
// Results are published at NodeResultKey bound to the session's lease.
// Commands on one instance run in the order they were written; different
// instances run in parallel.
type commandRunner struct {
	cli   *clientv3.Client
	node  string
	lease clientv3.LeaseID
	exec  *Executor
	log   *slog.Logger
	// after is called when a command finished (e.g. to resync domains).
	after func(instance string)
	// doneDir is the node's command journal ("" = none), see journal.
	doneDir string

	mu       sync.Mutex
	maxEpoch int64
	handled  map[string]int64 // command ID -> mod revision handled (or queued)
	running  map[string]*runningCmd
	queues   map[string]chan keys.NodeCommand
	wg       sync.WaitGroup
}

// runningCmd is a command being executed.
type runningCmd struct {
	cancel  context.CancelFunc
	dropped bool // its key was deleted while it ran
}

func newCommandRunner(cli *clientv3.Client, node string, lease clientv3.LeaseID, exec *Executor, maxEpoch int64, log *slog.Logger) *commandRunner {
	return &commandRunner{cli: cli, node: node, lease: lease, exec: exec, log: log, maxEpoch: maxEpoch,
		handled: map[string]int64{}, running: map[string]*runningCmd{}, queues: map[string]chan keys.NodeCommand{}}
}

func (r *commandRunner) journal() journal { return journal{dir: r.doneDir, log: r.log} }

// run reads the pending commands, then watches for new ones until ctx ends;
// it waits for running commands to finish (they see ctx too).
func (r *commandRunner) run(ctx context.Context) error {
	defer r.wg.Wait()
	prefix := keys.NodeCmdPrefix(r.node)
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := r.cli.Get(gctx, prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
	cancel()
	if err != nil {
		return fmt.Errorf("read commands: %w", err)
	}
	type pendingCmd struct {
		c   keys.NodeCommand
		rev int64
	}
	var pending []pendingCmd
	ids := map[string]bool{}
	for _, kv := range resp.Kvs {
		if c, ok := r.parse(kv.Key, kv.Value); ok {
			pending = append(pending, pendingCmd{c, kv.ModRevision})
			ids[c.ID] = true
			r.noteEpoch(c.Epoch)
		}
	}
	r.recover(ctx, ids)
	r.journal().prune(ids)
	for _, p := range pending {
		r.handle(ctx, p.c, p.rev)
	}
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	wch := r.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr, ok := <-wch:
			if !ok {
				return fmt.Errorf("command watch closed")
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("command watch: %w", err)
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					r.dropped(strings.TrimPrefix(string(ev.Kv.Key), prefix))
					continue
				}
				if c, ok := r.parse(ev.Kv.Key, ev.Kv.Value); ok {
					r.handle(ctx, c, ev.Kv.ModRevision)
				}
			}
		}
	}
}

func (r *commandRunner) parse(key, val []byte) (keys.NodeCommand, bool) {
	var c keys.NodeCommand
	if err := json.Unmarshal(val, &c); err != nil || c.ID == "" {
		r.log.Warn("command_unreadable", "key", string(key), "err", err)
		return c, false
	}
	return c, true
}

func (r *commandRunner) noteEpoch(e int64) {
	r.mu.Lock()
	if e > r.maxEpoch {
		r.maxEpoch = e
	}
	r.mu.Unlock()
}

// MaxEpoch is the highest leader epoch seen.
func (r *commandRunner) MaxEpoch() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxEpoch
}

// recover deals with the commands of the journal that started and did not
// finish: still pending, they run again (they are idempotent); gone, their
// job gave up on them, and a create is undone.
func (r *commandRunner) recover(ctx context.Context, pending map[string]bool) {
	jr := r.journal()
	for _, c := range jr.started() {
		switch {
		case pending[c.ID]:
		case func() bool { _, ok := jr.loadDone(c.ID); return ok }():
			jr.forgetStarted(c.ID)
		default:
			r.abandon(ctx, c)
		}
	}
}

// abandon undoes what a command whose job gave up on it left behind: a
// create is removed again (only what carries its instance's UUID).
func (r *commandRunner) abandon(ctx context.Context, c keys.NodeCommand) {
	log := r.log.With("cmd", c.ID, "kind", c.Kind, "instance", c.Instance.Name, "uuid", c.Instance.UUID)
	if c.Kind == keys.CmdInstanceCreate {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		err := r.exec.UndoCreate(uctx, c.Instance)
		cancel()
		if err != nil {
			// Left for `drover cluster repair`: it is an orphan now.
			log.Error("create_undo_failed", "err", err)
		} else {
			log.Warn("create_undone_job_gave_up")
		}
	} else {
		log.Warn("command_abandoned_job_gave_up")
	}
	r.journal().forgetStarted(c.ID)
	if r.after != nil {
		r.after(c.Instance.Name)
	}
}

// handle skips, answers or queues one version (mod revision) of a command.
func (r *commandRunner) handle(ctx context.Context, c keys.NodeCommand, rev int64) {
	r.mu.Lock()
	if r.handled[c.ID] >= rev {
		r.mu.Unlock()
		return
	}
	r.handled[c.ID] = rev
	if c.Epoch > r.maxEpoch {
		r.maxEpoch = c.Epoch
	}
	r.mu.Unlock()
	log := r.log.With("cmd", c.ID, "kind", c.Kind, "instance", c.Instance.Name, "epoch", c.Epoch)
	if done, err := r.answered(ctx, c); err != nil {
		log.Warn("command_result_check_failed", "err", err)
		r.forget(c.ID)
		return
	} else if done {
		log.Debug("command_already_answered")
		return
	}
	if res, ok := r.journal().loadDone(c.ID); ok {
		log.Info("command_result_republished")
		r.publish(ctx, res)
		return
	}
	r.enqueue(ctx, c)
}

func (r *commandRunner) forget(id string) {
	r.mu.Lock()
	delete(r.handled, id)
	r.mu.Unlock()
}

// dropped is called when command id was deleted: the leader has its answer,
// or the job step gave up on it. A command still running is canceled.
func (r *commandRunner) dropped(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.handled, id)
	if rc := r.running[id]; rc != nil {
		rc.dropped = true
		rc.cancel()
		r.log.Warn("command_canceled_deleted", "cmd", id)
	}
}

// answered reports whether c has a final result in etcd (a refusal of an
// older epoch does not answer a newer leader's command).
func (r *commandRunner) answered(ctx context.Context, c keys.NodeCommand) (bool, error) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := r.cli.Get(gctx, keys.NodeResultKey(r.node, c.ID))
	if err != nil {
		return false, err
	}
	if len(resp.Kvs) == 0 {
		return false, nil
	}
	var res keys.NodeCommandResult
	if json.Unmarshal(resp.Kvs[0].Value, &res) != nil || !res.Done {
		return false, nil
	}
	return !res.Refused || res.Epoch >= c.Epoch, nil
}

// enqueue hands c to its instance's worker, starting one if needed.
func (r *commandRunner) enqueue(ctx context.Context, c keys.NodeCommand) {
	r.mu.Lock()
	q, ok := r.queues[c.Instance.Name]
	if !ok {
		q = make(chan keys.NodeCommand, 256)
		r.queues[c.Instance.Name] = q
		r.wg.Go(func() { r.worker(ctx, c.Instance.Name, q) })
	}
	// Sent under the lock, so an idle worker cannot exit in between.
	select {
	case q <- c:
	default:
		delete(r.handled, c.ID) // seen again by the next session
		r.log.Error("command_queue_full", "cmd", c.ID, "instance", c.Instance.Name)
	}
	r.mu.Unlock()
}

// worker runs one instance's commands in order; it ends when idle.
func (r *commandRunner) worker(ctx context.Context, name string, q chan keys.NodeCommand) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-q:
			r.execute(ctx, c)
		case <-time.After(30 * time.Second):
			r.mu.Lock()
			if len(q) == 0 {
				delete(r.queues, name)
				r.mu.Unlock()
				return
			}
			r.mu.Unlock()
		}
	}
}

// current reads the command's key now: the version to run (a newer leader
// may have written it again), or false when it is gone.
func (r *commandRunner) current(ctx context.Context, id string) (keys.NodeCommand, bool, error) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := r.cli.Get(gctx, keys.NodeCommandKey(r.node, id))
	if err != nil || len(resp.Kvs) == 0 {
		return keys.NodeCommand{}, false, err
	}
	c, ok := r.parse(resp.Kvs[0].Key, resp.Kvs[0].Value)
	return c, ok, nil
}

// refusal is why c may not run now ("" if it may): its epoch is older than
// the current leader's or than one seen already, or no master leads.
func (r *commandRunner) refusal(ctx context.Context, c keys.NodeCommand) (string, error) {
	var resp *clientv3.GetResponse
	var err error
	for attempt := range 3 {
		gctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err = r.cli.Get(gctx, keys.ElectionPrefix+"/", clientv3.WithFirstCreate()...)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err != nil {
		return "", fmt.Errorf("read the leader's epoch: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "no master leads", nil
	}
	leader := resp.Kvs[0].CreateRevision
	r.noteEpoch(leader)
	if max := r.MaxEpoch(); c.Epoch < max {
		return fmt.Sprintf("command of leader epoch %d refused: epoch %d seen (leader epoch %d)", c.Epoch, max, leader), nil
	}
	return "", nil
}

func (r *commandRunner) execute(ctx context.Context, c keys.NodeCommand) {
	if ctx.Err() != nil {
		return
	}
	// Registered before the command is read again, so that a delete from
	// now on cancels it and one before is seen by the read.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc := &runningCmd{cancel: cancel}
	r.mu.Lock()
	r.running[c.ID] = rc
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.running, c.ID)
		r.mu.Unlock()
	}()
	log := r.log.With("cmd", c.ID, "kind", c.Kind, "instance", c.Instance.Name)
	cur, ok, err := r.current(ctx, c.ID)
	switch {
	case err != nil:
		log.Warn("command_read_failed", "err", err)
		r.forget(c.ID)
		return
	case !ok:
		log.Info("command_dropped_before_run")
		return
	}
	c = cur
	jr := r.journal()
	if res, ok := jr.loadDone(c.ID); ok {
		r.publish(ctx, res)
		return
	}
	why, err := r.refusal(ctx, c)
	if err != nil {
		r.publish(ctx, keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Done: true, Error: api.Errorf(api.CodeUnavailable, "%v", err)})
		return
	}
	if why != "" {
		log.Warn("command_refused_stale_epoch", "epoch", c.Epoch, "why", why)
		r.publish(ctx, keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Done: true, Refused: true,
			Error: api.Errorf(api.CodeWrongState, "%s", why)})
		return
	}
	jr.saveStarted(c)
	r.publish(ctx, keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Progress: "started"})
	var (
		pmu  sync.Mutex
		last time.Time
	)
	progress := func(s string) {
		pmu.Lock()
		defer pmu.Unlock()
		if time.Since(last) < 500*time.Millisecond {
			return
		}
		last = time.Now()
		r.publish(ctx, keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Progress: s})
	}
	out, err := r.exec.Run(cctx, c, progress)
	if ctx.Err() != nil {
		// The session ended (lease lost or agent stopping): the result
		// cannot be published under this lease. The journal keeps the
		// command as started: the next session runs it again if it is still
		// there (it is idempotent), or undoes it if its job gave up.
		return
	}
	r.mu.Lock()
	dropped := rc.dropped
	r.mu.Unlock()
	if dropped {
		r.abandon(ctx, c)
		return
	}
	res := keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Done: true, Output: out}
	if err != nil {
		res.Error = cmdError(err)
	}
	pmu.Lock()
	jr.saveDone(res)
	r.publish(ctx, res)
	pmu.Unlock()
	if r.after != nil {
		r.after(c.Instance.Name)
	}
}

// publish writes a result bound to the session's lease.
func (r *commandRunner) publish(ctx context.Context, res keys.NodeCommandResult) {
	res.At = time.Now().UTC()
	b, err := json.Marshal(res)
	if err != nil {
		r.log.Error("result_encode_failed", "err", err)
		return
	}
	for attempt := range 3 {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = r.cli.Put(pctx, keys.NodeResultKey(r.node, res.ID), string(b), clientv3.WithLease(r.lease))
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	if err != nil {
		r.log.Warn("result_publish_failed", "cmd", res.ID, "err", err)
	}
}
