package master

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Restart policy of the instance watcher (Ganeti's watcher, faster).
const (
	watchInterval = 2 * time.Second
	// restartGrace is how long an instance that should run must be seen
	// down before the watcher restarts it (a reboot is not a crash).
	restartGrace = 5 * time.Second
	// restartBackoff is the wait after restart n: restartBackoff << n,
	// capped at restartBackoffMax.
	restartBackoff    = 5 * time.Second
	restartBackoffMax = 5 * time.Minute
	// answerGrace is how long the answer of a command of no job stays
	// after the watcher first saw it, before the sweep deletes both.
	answerGrace = 5 * watchInterval
)

// watcherPrincipal submits the watcher's jobs.
var watcherPrincipal = api.Principal{User: "watcher", Role: api.RoleAdmin}

// instanceWatcher is the leader's restart policy: an instance that should run
// but is down (stopped, crashed, missing) for restartGrace is restarted by an
// instance.startup job marked auto, with back-off, at most
// keys.MaxAutoRestarts times; then the job marks it GaveUp (ERROR_down). It
// also removes records of adds whose job ended without finishing them.
type instanceWatcher struct {
	m         *Master
	epoch     int64
	downSince map[string]time.Time
	lastTry   map[string]time.Time
	pending   map[string]uint64
	now       func() time.Time
	// answeredAt: when this watcher first saw the answer of a command of
	// no job (key -> time on this master's clock), see answered.
	answeredAt map[string]time.Time
}

// runInstanceWatcher is the instance-restart controller: while this master
// leads (ctx ends with the leadership), it restarts instances that should
// run and do not, and cleans up abandoned adds. Its failures are logged; they
// do not end the leadership.
func (m *Master) runInstanceWatcher(ctx context.Context, fence store.Fence) error {
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	w := &instanceWatcher{m: m, epoch: fence.Epoch, downSince: map[string]time.Time{},
		lastTry: map[string]time.Time{}, pending: map[string]uint64{}, now: time.Now, answeredAt: map[string]time.Time{}}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := w.once(wctx); err != nil && ctx.Err() == nil {
			m.log.Warn("instance_watcher_failed", "error", err)
		}
		cancel()
	}
}

// backoff is the wait after n automatic restarts.
func backoff(n int) time.Duration {
	if n > 10 {
		return restartBackoffMax
	}
	return min(restartBackoff<<n, restartBackoffMax)
}

// once looks at every instance once.
func (w *instanceWatcher) once(ctx context.Context) error {
	s, err := w.scan(ctx)
	if err != nil {
		return err
	}
	now := w.now()
	ended := map[uint64]bool{} // by job, for this pass: a batch job holds up to 100 records
	for i := range s.creating {
		r := &s.creating[i]
		done, ok := ended[r.CreatingJob]
		if !ok {
			done = w.jobEnded(ctx, r.CreatingJob)
			ended[r.CreatingJob] = done
		}
		if done {
			w.cleanupAbandonedAdd(ctx, r)
		}
	}
	down := map[string]bool{}
	for _, d := range s.down {
		r := &d.rec
		down[r.Name] = true
		if id, ok := w.pending[r.Name]; ok {
			j, err := w.m.queue.Get(ctx, id)
			if err == nil && !j.State.Finished() {
				continue
			}
			delete(w.pending, r.Name)
		}
		since, ok := w.downSince[r.Name]
		if !ok {
			w.downSince[r.Name] = now
			continue
		}
		if now.Sub(since) < restartGrace || now.Sub(w.lastTry[r.Name]) < backoff(r.Restarts) {
			continue
		}
		state := d.state
		if state == "" {
			state = "no domain reported"
		}
		id, err := w.m.queue.Submit(ctx, watcherPrincipal, api.JobSubmit{
			Ops: []api.OpCode{api.MustOp(api.OpInstanceStartup, api.InstanceStartup{Name: r.Name, Auto: true})},
		})
		if err != nil {
			w.m.log.Warn("instance_restart_submit_failed", "instance", r.Name, "error", err)
			continue
		}
		w.pending[r.Name], w.lastTry[r.Name] = id, now
		w.m.log.Warn("instance_restart", "instance", r.Name, "node", r.PrimaryNode, "state", state,
			"down_for", now.Sub(since).Round(time.Second), "restarts", r.Restarts, "job_id", id)
	}
	for n := range w.downSince {
		if !down[n] {
			delete(w.downSince, n)
		}
	}
	for _, n := range s.gone {
		delete(w.lastTry, n)
		delete(w.pending, n)
	}
	w.sweepCommands(ctx)
	return nil
}

// jobEnded reports whether job id has ended (or is gone); false when the
// queue cannot tell now.
func (w *instanceWatcher) jobEnded(ctx context.Context, id uint64) bool {
	j, err := w.m.queue.Get(ctx, id)
	if err != nil {
		return api.CodeOf(err) == api.CodeUnknownEntity
	}
	return j.State.Finished()
}

// sweepCommands deletes node commands whose job has ended: a step deletes
// its command when it is done with it, but a failed delete (etcd trouble at
// that moment) must not leave a command that an agent would run later.
func (w *instanceWatcher) sweepCommands(ctx context.Context) {
	tctx, cancel := store.WithTimeout(ctx)
	resp, err := w.m.client.Get(tctx, keys.NodeCmdRoot, clientv3.WithPrefix())
	cancel()
	if err != nil || len(resp.Kvs) == 0 {
		return
	}
	ended := map[uint64]bool{}
	var fence *store.Fence
	present := map[string]bool{}
	for _, kv := range resp.Kvs {
		present[string(kv.Key)] = true
	}
	for k := range w.answeredAt {
		if !present[k] {
			delete(w.answeredAt, k)
		}
	}
	for _, kv := range resp.Kvs {
		var c keys.NodeCommand
		if json.Unmarshal(kv.Value, &c) != nil {
			continue
		}
		var done bool
		if c.JobID == 0 {
			// The leader's own commands (undo left for an agent that was
			// away): done once answered.
			done = w.answered(ctx, kv.Key, c)
		} else {
			var ok bool
			if done, ok = ended[c.JobID]; !ok {
				j, err := w.m.queue.Get(ctx, c.JobID)
				done = err == nil && j.State.Finished() || err != nil && api.CodeOf(err) == api.CodeUnknownEntity
				ended[c.JobID] = done
			}
		}
		if !done {
			continue
		}
		if fence == nil {
			f, err := w.m.fenceOf(ctx, w.epoch)
			if err != nil {
				return
			}
			fence = &f
		}
		key := string(kv.Key)
		node, _, _ := strings.Cut(strings.TrimPrefix(key, keys.NodeCmdRoot), "/")
		if _, err := fence.Txn(ctx, w.m.client, []clientv3.Cmp{store.Unchanged(key, kv.ModRevision)},
			clientv3.OpDelete(key), clientv3.OpDelete(keys.NodeResultKey(node, c.ID))); err != nil {
			w.m.log.Warn("node_command_sweep_failed", "key", key, "error", err)
			continue
		}
		w.m.log.Info("node_command_swept", "key", key, "job_id", c.JobID)
	}
}

// answered reports whether the agent has answered command c (at key) at
// least answerGrace ago, as this watcher saw it: whoever waits for the
// answer (a runNodeCmd of the watcher's own, an operator's tool polling the
// result key) has had time to read it before command and result go. The
// grace counts from the answer, not from the command's creation: a command
// that ran longer than a watcher pass was otherwise swept right after its
// answer appeared, before a poller read it (TestVMNodesReplaceSecondary9
// waited 90 s for a disk.create of 5.5 s that way).
func (w *instanceWatcher) answered(ctx context.Context, key []byte, c keys.NodeCommand) bool {
	node, _, _ := strings.Cut(strings.TrimPrefix(string(key), keys.NodeCmdRoot), "/")
	var res keys.NodeCommandResult
	if _, err := store.GetJSON(ctx, w.m.client, keys.NodeResultKey(node, c.ID), &res); err != nil || !res.Done {
		delete(w.answeredAt, string(key))
		return false
	}
	seen, ok := w.answeredAt[string(key)]
	if !ok {
		w.answeredAt[string(key)] = w.now()
		return false
	}
	return w.now().Sub(seen) >= answerGrace
}

// cleanupAbandonedAdd removes a record still marked as being created when
// its add job ended (failed or vanished: jobEnded) without undoing it.
func (w *instanceWatcher) cleanupAbandonedAdd(ctx context.Context, r *keys.InstanceRecord) {
	// Read the record again now that the job is known to have ended: the
	// record r was read before, and the job may have committed it (cleared
	// CreatingJob) in between. Only a record that is still marked creating by
	// this job after its end is abandoned; a remove sent on the stale copy
	// would destroy a freshly added instance.
	var cur keys.InstanceRecord
	if _, err := store.GetJSON(ctx, w.m.client, keys.InstanceKey(r.Name), &cur); err != nil ||
		cur.UUID != r.UUID || cur.CreatingJob != r.CreatingJob {
		return
	}
	if _, _, err := w.m.nodeUsable(ctx, r.PrimaryNode); err == nil {
		c := nodeCmd{ID: "cleanup-" + r.UUID, Node: r.PrimaryNode, Kind: keys.CmdInstanceRemove, Instance: *r}
		if _, err := w.m.runNodeCmd(ctx, w.epoch, c); err != nil {
			w.m.log.Warn("abandoned_add_cleanup_failed", "instance", r.Name, "job_id", r.CreatingJob, "error", err)
			return
		}
	}
	if err := w.m.deleteCreating(ctx, w.epoch, r); err != nil {
		w.m.log.Warn("abandoned_add_cleanup_failed", "instance", r.Name, "job_id", r.CreatingJob, "error", err)
		return
	}
	w.m.log.Warn("abandoned_add_cleaned_up", "instance", r.Name, "job_id", r.CreatingJob)
}
