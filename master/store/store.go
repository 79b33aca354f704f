package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Timeout bounds every single etcd request of the master.
const Timeout = 5 * time.Second

// WithTimeout derives a context bounded by Timeout.
func WithTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, Timeout)
}

// Fence identifies a leadership: the election key the leader created and its
// create revision (the epoch). A write guarded by the fence succeeds only while
// that key still exists with that create revision.
type Fence struct {
	Key   string
	Epoch int64
}

// Cmp is the compare that guards leader-only writes.
func (f Fence) Cmp() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(f.Key), "=", f.Epoch)
}

// Txn runs a fenced transaction: cmps (and the fence) must hold for ops to be
// applied. It returns ErrFenced when the fence failed, ErrConflict when one of
// cmps failed, and the response otherwise.
func (f Fence) Txn(ctx context.Context, c *clientv3.Client, cmps []clientv3.Cmp, ops ...clientv3.Op) (*clientv3.TxnResponse, error) {
	ctx, cancel := WithTimeout(ctx)
	defer cancel()
	all := append([]clientv3.Cmp{f.Cmp()}, cmps...)
	resp, err := c.Txn(ctx).If(all...).Then(ops...).
		Else(clientv3.OpGet(f.Key, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return nil, fmt.Errorf("fenced txn: %w", err)
	}
	if resp.Succeeded {
		return resp, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 || kvs[0].CreateRevision != f.Epoch {
		return nil, ErrFenced
	}
	return nil, ErrConflict
}

// Absent compares that key does not exist.
func Absent(key string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
}

// Unchanged compares that key was last modified at rev (0: absent).
func Unchanged(key string, rev int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(key), "=", rev)
}

// PutJSON returns a put of v as JSON.
func PutJSON(key string, v any, opts ...clientv3.OpOption) (clientv3.Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("encode %s: %w", key, err)
	}
	return clientv3.OpPut(key, string(b), opts...), nil
}

// GetJSON reads key into v and returns its mod revision; ErrNotFound if absent.
func GetJSON(ctx context.Context, c *clientv3.Client, key string, v any) (int64, error) {
	ctx, cancel := WithTimeout(ctx)
	defer cancel()
	resp, err := c.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return resp.Kvs[0].ModRevision, nil
}

// CreateJSON puts v at key only if key is absent; it reports whether it did.
func CreateJSON(ctx context.Context, c *clientv3.Client, key string, v any) (bool, error) {
	op, err := PutJSON(key, v)
	if err != nil {
		return false, err
	}
	ctx, cancel := WithTimeout(ctx)
	defer cancel()
	resp, err := c.Txn(ctx).If(Absent(key)).Then(op).Commit()
	if err != nil {
		return false, fmt.Errorf("create %s: %w", key, err)
	}
	return resp.Succeeded, nil
}
