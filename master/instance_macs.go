package master

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// macString formats a MAC from the cluster prefix (three octets) and a
// 24-bit sequence number.
func macString(prefix string, seq uint64) string {
	return fmt.Sprintf("%s:%02x:%02x:%02x", prefix, (seq>>16)&0xff, (seq>>8)&0xff, seq&0xff)
}

// maxMACSeq is the last sequence number of a prefix's 24 bits.
const maxMACSeq = 1<<24 - 1

// allocMACs hands out n MACs from the cluster prefix: a CAS on MACSeqKey,
// so two masters never give out one MAC twice.
func allocMACs(ctx context.Context, c *clientv3.Client, prefix string, n int) ([]string, error) {
	if n == 0 {
		return nil, nil
	}
	for attempt := 0; attempt < 50; attempt++ {
		if attempt > 0 {
			// Lost the CAS to another allocation: back off with jitter so
			// that concurrent allocators do not keep colliding.
			d := time.Duration(1+rand.IntN(5*min(attempt, 10))) * time.Millisecond
			select {
			case <-ctx.Done():
				return nil, unavailable("mac allocation", ctx.Err())
			case <-time.After(d):
			}
		}
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := c.Get(tctx, keys.MACSeqKey)
		cancel()
		if err != nil {
			return nil, unavailable("read mac sequence", err)
		}
		var last uint64
		var rev int64
		if len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
			if last, err = strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64); err != nil {
				return nil, fmt.Errorf("mac sequence %q: %w", resp.Kvs[0].Value, err)
			}
		}
		if last+uint64(n) > maxMACSeq {
			return nil, api.Errorf(api.CodeInsufficientResources, "MAC prefix %s exhausted", prefix)
		}
		next := last + uint64(n)
		tctx, cancel = store.WithTimeout(ctx)
		tr, err := c.Txn(tctx).If(store.Unchanged(keys.MACSeqKey, rev)).
			Then(clientv3.OpPut(keys.MACSeqKey, strconv.FormatUint(next, 10))).Commit()
		cancel()
		if err != nil {
			return nil, unavailable("write mac sequence", err)
		}
		if tr.Succeeded {
			out := make([]string, n)
			for i := range out {
				out[i] = macString(prefix, last+1+uint64(i))
			}
			return out, nil
		}
	}
	return nil, api.Errorf(api.CodeUnavailable, "MAC allocation: too much contention")
}
