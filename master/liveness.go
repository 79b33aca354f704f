package master

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// watchLiveness logs nodes going unreachable (their status key vanished with
// their lease) and coming back online. It runs on the leader only.
func (m *Master) watchLiveness(ctx context.Context) error {
	for ctx.Err() == nil {
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := m.client.Get(tctx, keys.NodeStateRoot, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("liveness: list node states: %w", err)
		}
		online := map[string]bool{}
		for _, kv := range resp.Kvs {
			if n := keys.NodeFromStatusKey(string(kv.Key)); n != "" {
				online[n] = true
			}
		}
		wch := m.client.Watch(clientv3.WithRequireLeader(ctx), keys.NodeStateRoot,
			clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				n := keys.NodeFromStatusKey(string(ev.Kv.Key))
				if n == "" {
					continue
				}
				switch {
				case ev.Type == clientv3.EventTypePut && !online[n]:
					online[n] = true
					m.log.Info("node_online", "node", n)
				case ev.Type == clientv3.EventTypeDelete && online[n]:
					delete(online, n)
					m.log.Warn("node_unreachable", "node", n)
				}
			}
		}
	}
	return ctx.Err()
}
