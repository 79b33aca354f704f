package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Archive moves the finished jobs that ended before now-age to the archive,
// each in one fenced transaction; it returns how many it moved.
func Archive(ctx context.Context, c *clientv3.Client, fence store.Fence, age time.Duration, now time.Time) (int, error) {
	tctx, cancel := store.WithTimeout(ctx)
	resp, err := c.Get(tctx, keys.JobsPrefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return 0, fmt.Errorf("archive: list jobs: %w", err)
	}
	n := 0
	for _, kv := range resp.Kvs {
		var j api.Job
		if err := json.Unmarshal(kv.Value, &j); err != nil {
			return n, fmt.Errorf("archive: decode %s: %w", kv.Key, err)
		}
		if !j.State.Finished() || j.EndedAt == nil || now.Sub(*j.EndedAt) < age {
			continue
		}
		j.Archived = true
		put, err := store.PutJSON(keys.ArchiveJobKey(j.ID), j)
		if err != nil {
			return n, err
		}
		_, err = fence.Txn(ctx, c, []clientv3.Cmp{store.Unchanged(string(kv.Key), kv.ModRevision)},
			clientv3.OpDelete(string(kv.Key)), put)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("archive job %d: %w", j.ID, err)
		}
		n++
	}
	return n, nil
}
