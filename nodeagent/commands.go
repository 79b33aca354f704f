package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// commandRunner watches the node's command prefix and runs each command
// once: it refuses commands of a leader epoch older than the highest seen,
// skips commands whose result exists, and publishes progress and the result
// at NodeResultKey bound to the session's lease. Commands on one instance run
// in the order they were written; different instances run in parallel.
type commandRunner struct {
	cli   *clientv3.Client
	node  string
	lease clientv3.LeaseID
	exec  *Executor
	log   *slog.Logger
	// after is called when a command finished (e.g. to resync domains).
	after func(instance string)
	// doneDir keeps the final result of every command run on this node
	// ("" = none): results in etcd are bound to the lease and vanish with
	// it, so after an agent restart a finished command's result is
	// republished from here instead of the command being run again.
	doneDir string

	mu       sync.Mutex
	maxEpoch int64
	seen     map[string]bool // IDs handled (or queued) in this session
	queues   map[string]chan keys.NodeCommand
	wg       sync.WaitGroup
}

func newCommandRunner(cli *clientv3.Client, node string, lease clientv3.LeaseID, exec *Executor, maxEpoch int64, log *slog.Logger) *commandRunner {
	return &commandRunner{cli: cli, node: node, lease: lease, exec: exec, log: log, maxEpoch: maxEpoch,
		seen: map[string]bool{}, queues: map[string]chan keys.NodeCommand{}}
}

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
	var pending []keys.NodeCommand
	for _, kv := range resp.Kvs {
		if c, ok := r.parse(kv.Key, kv.Value); ok {
			pending = append(pending, c)
			r.noteEpoch(c.Epoch)
		}
	}
	r.pruneDone(pending)
	for _, c := range pending {
		r.handle(ctx, c)
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
			var batch []keys.NodeCommand
			for _, ev := range wr.Events {
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				if c, ok := r.parse(ev.Kv.Key, ev.Kv.Value); ok {
					batch = append(batch, c)
				}
			}
			for _, c := range batch {
				r.handle(ctx, c)
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

// handle refuses, skips or queues one command.
func (r *commandRunner) handle(ctx context.Context, c keys.NodeCommand) {
	r.mu.Lock()
	if r.seen[c.ID] {
		r.mu.Unlock()
		return
	}
	r.seen[c.ID] = true
	stale := c.Epoch < r.maxEpoch
	max := r.maxEpoch
	if c.Epoch > r.maxEpoch {
		r.maxEpoch = c.Epoch
	}
	r.mu.Unlock()
	log := r.log.With("cmd", c.ID, "kind", c.Kind, "instance", c.Instance.Name, "epoch", c.Epoch)
	if done, err := r.resultExists(ctx, c.ID); err != nil {
		log.Warn("command_result_check_failed", "err", err)
		r.forget(c.ID)
		return
	} else if done {
		log.Debug("command_already_answered")
		return
	}
	if res, ok := r.loadDone(c.ID); ok {
		log.Info("command_result_republished")
		r.publish(ctx, res)
		return
	}
	if stale {
		log.Warn("command_refused_stale_epoch", "highest_epoch", max)
		r.publish(ctx, keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Done: true,
			Error: api.Errorf(api.CodeWrongState, "command of leader epoch %d refused: epoch %d seen", c.Epoch, max)})
		return
	}
	r.enqueue(ctx, c)
}

func (r *commandRunner) forget(id string) {
	r.mu.Lock()
	delete(r.seen, id)
	r.mu.Unlock()
}

func (r *commandRunner) resultExists(ctx context.Context, id string) (bool, error) {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := r.cli.Get(gctx, keys.NodeResultKey(r.node, id), clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return resp.Count > 0, nil
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
		delete(r.seen, c.ID) // seen again by the next session
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

func (r *commandRunner) execute(ctx context.Context, c keys.NodeCommand) {
	if ctx.Err() != nil {
		return
	}
	// A newer leader may have spoken while this command waited.
	if max := r.MaxEpoch(); c.Epoch < max {
		r.publish(ctx, keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Done: true,
			Error: api.Errorf(api.CodeWrongState, "command of leader epoch %d refused: epoch %d seen", c.Epoch, max)})
		return
	}
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
	out, err := r.exec.Run(ctx, c, progress)
	if ctx.Err() != nil {
		// The session ended (lease lost or agent stopping): the result
		// cannot be published under this lease; the command will be seen
		// again by the next session and, being idempotent, re-run.
		return
	}
	res := keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Done: true, Output: out}
	if err != nil {
		res.Error = cmdError(err)
	}
	pmu.Lock()
	r.saveDone(res)
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

func (r *commandRunner) donePath(id string) string {
	// IDs are "<job>-<op>-<step>"; keep the file name safe whatever they are.
	return filepath.Join(r.doneDir, url.PathEscape(id)+".json")
}

// saveDone records a final result on the node (best effort).
func (r *commandRunner) saveDone(res keys.NodeCommandResult) {
	if r.doneDir == "" {
		return
	}
	b, err := json.Marshal(res)
	if err == nil {
		tmp := r.donePath(res.ID) + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, r.donePath(res.ID))
		}
	}
	if err != nil {
		r.log.Warn("command_result_not_saved", "cmd", res.ID, "err", err)
	}
}

func (r *commandRunner) loadDone(id string) (keys.NodeCommandResult, bool) {
	var res keys.NodeCommandResult
	if r.doneDir == "" {
		return res, false
	}
	b, err := os.ReadFile(r.donePath(id))
	if err != nil || json.Unmarshal(b, &res) != nil || res.ID != id || !res.Done {
		return res, false
	}
	return res, true
}

// pruneDone forgets results of commands the leader has deleted.
func (r *commandRunner) pruneDone(pending []keys.NodeCommand) {
	if r.doneDir == "" {
		return
	}
	keep := map[string]bool{}
	for _, c := range pending {
		keep[filepath.Base(r.donePath(c.ID))] = true
	}
	ents, _ := os.ReadDir(r.doneDir)
	for _, e := range ents {
		if !keep[e.Name()] {
			_ = os.Remove(filepath.Join(r.doneDir, e.Name()))
		}
	}
}
