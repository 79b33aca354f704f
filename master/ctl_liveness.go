package master

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// watchLiveness follows the nodes' status keys: a node goes unreachable when
// its key vanished with its lease, and comes back online when the agent
// publishes again. For an unreachable node it applies the lease timing that
// the agents use (keys.LeaseTiming): only a node whose agent reported an
// armed watchdog is presumed fenced, and only Grace after its lease was seen
// to expire; a node without one is never presumed fenced (it needs a STONITH
// agent or the operator). It runs on the leader only.
func (m *Master) watchLiveness(ctx context.Context) error {
	timing := keys.NewLeaseTiming(time.Duration(m.dir.Cluster.NodeLeaseTTL) * time.Second)
	lv := newLiveness(timing, time.Now)
	for ctx.Err() == nil {
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := m.client.Get(tctx, keys.NodeStateRoot, clientv3.WithPrefix())
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("liveness: list node states: %w", err)
		}
		for _, kv := range resp.Kvs {
			if n := keys.NodeFromStatusKey(string(kv.Key)); n != "" {
				lv.seen(n, watchdogOf(kv.Value))
			}
		}
		wch := m.client.Watch(clientv3.WithRequireLeader(ctx), keys.NodeStateRoot,
			clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		tick := time.NewTicker(time.Second)
	watch:
		for {
			select {
			case <-ctx.Done():
				break watch
			case <-tick.C:
				for _, n := range lv.due() {
					m.log.Warn("node_presumed_fenced", "node", n, "grace", timing.Grace)
				}
				continue
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
						if lv.seen(n, watchdogOf(ev.Kv.Value)) {
							m.log.Info("node_online", "node", n)
						}
						continue
					}
					if by, trusted, ok := lv.lost(n); ok {
						m.log.Warn("node_unreachable", "node", n, "watchdog", trusted, "presumed_fenced_at", by)
					}
				}
			}
		}
		tick.Stop()
	}
	return ctx.Err()
}

// watchdogOf reads whether a status record reports an armed watchdog.
func watchdogOf(v []byte) bool {
	var st keys.NodeStatus
	return json.Unmarshal(v, &st) == nil && st.Watchdog != nil
}

// liveness is the leader's view of the nodes' leases, on a clock.
type liveness struct {
	timing keys.LeaseTiming
	now    func() time.Time
	online map[string]bool      // node -> its agent reported a watchdog
	lostAt map[string]time.Time // unreachable nodes with a watchdog -> expiry seen
}

func newLiveness(t keys.LeaseTiming, now func() time.Time) *liveness {
	return &liveness{timing: t, now: now, online: map[string]bool{}, lostAt: map[string]time.Time{}}
}

// seen records a status of node; true when the node was not online before.
func (l *liveness) seen(node string, watchdog bool) bool {
	_, was := l.online[node]
	l.online[node] = watchdog
	delete(l.lostAt, node)
	return !was
}

// lost records that node's lease expired now. It returns when the node may
// be presumed fenced (zero and false without a watchdog) and whether the
// node was online.
func (l *liveness) lost(node string) (time.Time, bool, bool) {
	wd, was := l.online[node]
	if !was {
		return time.Time{}, false, false
	}
	delete(l.online, node)
	if !wd {
		return time.Time{}, false, true
	}
	now := l.now()
	l.lostAt[node] = now
	return l.timing.FencedBy(now), true, true
}

// due returns (once) the unreachable nodes that may now be presumed fenced.
func (l *liveness) due() []string {
	var out []string
	now := l.now()
	for n, at := range l.lostAt {
		if l.timing.PresumedFenced(at, now) {
			out = append(out, n)
			delete(l.lostAt, n)
		}
	}
	return out
}
