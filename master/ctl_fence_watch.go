package master

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/store"
)

// watchFence ends leadership as soon as the election key is gone (expired,
// deleted) or no longer has the epoch's create revision.
func (m *Master) watchFence(ctx context.Context, fence store.Fence) error {
	for ctx.Err() == nil {
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := m.client.Get(tctx, fence.Key)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("read election key: %w", err)
		}
		if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != fence.Epoch {
			return jobs.ErrLeadershipLost
		}
		wch := m.client.Watch(clientv3.WithRequireLeader(ctx), fence.Key, clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			if wr.Err() != nil {
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					return jobs.ErrLeadershipLost
				}
			}
		}
	}
	return ctx.Err()
}
