package store

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Writer collects the compares and writes of one transaction: a job step's
// checkpoint (jobs.StepContext) or a Txn committed through a Fence.
type Writer interface {
	If(cmps ...clientv3.Cmp)
	Then(ops ...clientv3.Op)
}

// Txn is a Writer to commit with Fence.Commit.
type Txn struct {
	Cmps []clientv3.Cmp
	Ops  []clientv3.Op
}

// If adds compares that must hold.
func (t *Txn) If(cmps ...clientv3.Cmp) { t.Cmps = append(t.Cmps, cmps...) }

// Then adds writes.
func (t *Txn) Then(ops ...clientv3.Op) { t.Ops = append(t.Ops, ops...) }

// Commit runs t fenced (see Txn).
func (f Fence) Commit(ctx context.Context, c *clientv3.Client, t *Txn) (*clientv3.TxnResponse, error) {
	return f.Txn(ctx, c, t.Cmps, t.Ops...)
}

// Record is a JSON record of the cluster store with the mod revision it was
// read at (0: it did not exist). Writes through a Record are compare-and-swap
// on that revision: they commit only if nobody changed the key since.
type Record[T any] struct {
	Key   string
	Rev   int64
	Value T
}

// Read reads key into a Record; ErrNotFound (wrapped) when it is absent.
func Read[T any](ctx context.Context, c *clientv3.Client, key string) (*Record[T], error) {
	r := &Record[T]{Key: key}
	rev, err := GetJSON(ctx, c, key, &r.Value)
	if err != nil {
		return nil, err
	}
	r.Rev = rev
	return r, nil
}

// New is a record to create at key (absent until written).
func New[T any](key string, v T) *Record[T] { return &Record[T]{Key: key, Value: v} }

// Put adds to w the write of r.Value, guarded by r's revision (for a new
// record: the key must still be absent).
func (r *Record[T]) Put(w Writer) error {
	op, err := PutJSON(r.Key, r.Value)
	if err != nil {
		return err
	}
	w.If(r.Unchanged())
	w.Then(op)
	return nil
}

// Delete adds to w the delete of r, guarded by r's revision.
func (r *Record[T]) Delete(w Writer) {
	w.If(r.Unchanged())
	w.Then(clientv3.OpDelete(r.Key))
}

// Unchanged is the compare that r's key was not modified since it was read.
func (r *Record[T]) Unchanged() clientv3.Cmp {
	if r.Rev == 0 {
		return Absent(r.Key)
	}
	return Unchanged(r.Key, r.Rev)
}

// maxUpdateTries bounds the retries of Update under contention.
const maxUpdateTries = 10

// Update reads key, lets change modify the value (false: nothing to do;
// extra writes may be added to the Txn it gets) and writes it back fenced
// and compare-and-swap; on a conflict it reads again and retries. It returns
// the record as written (or as read, when change made no change).
func Update[T any](ctx context.Context, c *clientv3.Client, f Fence, key string, change func(v *T, t *Txn) (bool, error)) (*Record[T], error) {
	for range maxUpdateTries {
		r, err := Read[T](ctx, c, key)
		if err != nil {
			return nil, err
		}
		var t Txn
		changed, err := change(&r.Value, &t)
		if err != nil || !changed {
			return r, err
		}
		if err := r.Put(&t); err != nil {
			return nil, err
		}
		resp, err := f.Commit(ctx, c, &t)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", key, err)
		}
		r.Rev = resp.Header.Revision
		return r, nil
	}
	return nil, fmt.Errorf("update %s: %d conflicts in a row: %w", key, maxUpdateTries, ErrConflict)
}
