package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// livenessTick is how often the controller advances the state machine in
// any case; it also wakes exactly when a node's next transition is due
// (liveness.nextDue) and right after an action ended.
const livenessTick = 500 * time.Millisecond

// watchLiveness is the liveness controller (docs/ha.md): it follows the
// nodes' status keys, which live exactly as long as their agents' leases,
// runs the state machine of node_liveness.go on them with the lease timing
// the agents use (keys.LeaseTiming), writes every node's record
// (keys.NodeHealthRecord: state, transitions, last fence) under the
// leadership's fence, fences suspect nodes through their fence devices and
// hands fenced nodes to the failover. It runs on the leader only.
func (m *Master) watchLiveness(ctx context.Context, fence store.Fence) error {
	timing := keys.NewLeaseTiming(time.Duration(m.dir.Cluster.NodeLeaseTTL) * time.Second)
	lv := newLiveness(timing, time.Now)
	log := m.log.With("controller", "liveness")
	results := make(chan func(), 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	fp := m.newFastPath(ctx, timing, log, func(job func() func()) {
		wg.Go(func() {
			done := job()
			select {
			case results <- done:
			case <-ctx.Done():
			}
		})
	})
	fp.dropPeers = func(ctx context.Context, node string) { m.dropDeadPrimary(ctx, fence.Epoch, node, log) }
	for ctx.Err() == nil {
		rev, err := m.restoreLiveness(ctx, lv)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("liveness: %w", err)
		}
		wch := m.client.Watch(clientv3.WithRequireLeader(ctx), keys.NodeStateRoot,
			clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		// Actions start only once the records that led to them are
		// written: a failover job finds the node recorded fenced.
		var acts []livenessAction
		step := func() { acts = append(acts, lv.step(m.hasFenceDevice(ctx))...) }
		tick := time.NewTicker(livenessTick)
		wake := time.NewTimer(livenessTick)
		probe := time.NewTicker(lateProbeEvery)
	watch:
		for {
			select {
			case <-ctx.Done():
				break watch
			case done := <-results:
				// An action's outcome (a confirmed fence) is acted on at
				// once: the failover does not wait for a tick.
				done()
				step()
			case <-tick.C:
				step()
			case <-probe.C:
				fp.start(lv)
			case <-wake.C:
				step()
			case wr, ok := <-wch:
				if !ok || wr.Err() != nil {
					break watch
				}
				for _, ev := range wr.Events {
					n := keys.NodeFromStatusKey(string(ev.Kv.Key))
					if n == "" {
						continue
					}
					if ev.Type == clientv3.EventTypePut {
						lv.seen(n, watchdogOf(ev.Kv.Value))
						lv.setLease(n, ev.Kv.Lease)
					} else {
						lv.lost(n)
					}
				}
			}
			if err := m.writeHealth(ctx, fence, lv, log); err != nil {
				tick.Stop()
				wake.Stop()
				probe.Stop()
				return err
			}
			for _, a := range acts {
				wg.Go(func() { m.runLivenessAction(ctx, fence, lv, a, results, log) })
			}
			acts = acts[:0]
			wake.Reset(livenessWake(lv.nextDue(), time.Now()))
		}
		tick.Stop()
		wake.Stop()
		probe.Stop()
	}
	return ctx.Err()
}

// livenessWake is when the controller's wake timer fires: at the next moment
// the state machine waits for (due), or a tick later when nothing waits.
func livenessWake(due, now time.Time) time.Duration {
	if due.IsZero() {
		return livenessTick
	}
	return min(livenessTick, max(time.Millisecond, due.Sub(now)))
}

// restoreLiveness loads the nodes, their statuses and health records into
// lv; it returns the revision to watch from.
func (m *Master) restoreLiveness(ctx context.Context, lv *liveness) (int64, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	nr, err := m.client.Get(tctx, keys.NodesPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, fmt.Errorf("list nodes: %w", err)
	}
	rev := clientv3.WithRev(nr.Header.Revision)
	sr, err := m.client.Get(tctx, keys.NodeStateRoot, clientv3.WithPrefix(), rev)
	if err != nil {
		return 0, fmt.Errorf("list node states: %w", err)
	}
	hr, err := m.client.Get(tctx, keys.NodeHealthPrefix, clientv3.WithPrefix(), rev)
	if err != nil {
		return 0, fmt.Errorf("list node health: %w", err)
	}
	status, leases := map[string][]byte{}, map[string]int64{}
	for _, kv := range sr.Kvs {
		if n := keys.NodeFromStatusKey(string(kv.Key)); n != "" {
			status[n], leases[n] = kv.Value, kv.Lease
		}
	}
	health := map[string]*keys.NodeHealthRecord{}
	for _, kv := range hr.Kvs {
		var r keys.NodeHealthRecord
		if json.Unmarshal(kv.Value, &r) == nil {
			health[keys.NameFromKey(keys.NodeHealthPrefix, string(kv.Key))] = &r
		}
	}
	known := map[string]bool{}
	for _, kv := range nr.Kvs {
		n := keys.NameFromKey(keys.NodesPrefix, string(kv.Key))
		if n == "" {
			continue
		}
		known[n] = true
		if _, tracked := lv.nodes[n]; tracked {
			// A watch that broke off: statuses may have changed meanwhile.
			if st, up := status[n]; up {
				lv.seen(n, watchdogOf(st))
			} else {
				lv.lost(n)
			}
			lv.setLease(n, leases[n])
			continue
		}
		st, up := status[n]
		lv.restore(n, health[n], up, up && watchdogOf(st))
		lv.setLease(n, leases[n])
	}
	for n := range lv.nodes {
		if !known[n] {
			lv.forget(n)
		}
	}
	return nr.Header.Revision, nil
}

// hasFenceDevice answers, for one step, whether a node has a fence device
// (read once per node and step, only when asked).
func (m *Master) hasFenceDevice(ctx context.Context) func(string) bool {
	cache := map[string]bool{}
	return func(node string) bool {
		if v, ok := cache[node]; ok {
			return v
		}
		d, err := m.fenceDevice(ctx, node)
		cache[node] = err == nil && d != nil
		return cache[node]
	}
}

// runLivenessAction runs one action and hands its outcome back to the loop.
func (m *Master) runLivenessAction(ctx context.Context, fence store.Fence, lv *liveness, a livenessAction, results chan<- func(), log *slog.Logger) {
	var done func()
	switch a.kind {
	case actStonith:
		res, err := m.stonith(ctx, a.node, log)
		if err == nil && a.revoke != 0 {
			m.revokeLease(ctx, a.node, a.revoke, log)
		}
		done = func() { lv.fenceDone(a.node, res, err) }
	case actFailover:
		err := m.failoverNode(ctx, fence, a.node, log)
		done = func() { lv.failoverDone(a.node, err) }
	}
	select {
	case results <- done:
	case <-ctx.Done():
	}
}

// writeHealth logs the transitions and writes the records that changed
// (leader only).
func (m *Master) writeHealth(ctx context.Context, fence store.Fence, lv *liveness, log *slog.Logger) error {
	for _, c := range lv.drain() {
		level := slog.LevelWarn
		if c.rec.State == api.NodeOnline {
			level = slog.LevelInfo
		}
		log.Log(ctx, level, "node_"+c.rec.State, "node", c.node, "reason", c.rec.Reason, "method", c.rec.Method,
			"needs_operator", c.rec.NeedsOperator, "lease_lost_at", c.rec.LeaseLostAt)
		if c.transition {
			m.observeTransition(c.rec.State)
		}
	}
	for name, rec := range lv.dirtyRecords() {
		put, err := store.PutJSON(keys.NodeHealthKey(name), rec)
		if err != nil {
			return err
		}
		_, err = fence.Txn(ctx, m.client, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(keys.NodeKey(name)), ">", 0)}, put)
		switch {
		case err == nil:
		case errors.Is(err, store.ErrConflict):
			lv.forget(name) // removed meanwhile
		case errors.Is(err, store.ErrFenced):
			return jobs.ErrLeadershipLost
		case ctx.Err() != nil:
			return nil
		default:
			return fmt.Errorf("liveness: write %s: %w", name, err)
		}
	}
	return nil
}

// watchdogOf reads whether a status record reports an armed watchdog.
func watchdogOf(v []byte) bool {
	var st keys.NodeStatus
	return json.Unmarshal(v, &st) == nil && st.Watchdog != nil
}
