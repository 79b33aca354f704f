package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/store"
	"github.com/drover-project/drover/master/store/storetest"
)

type counter struct{ N int }

func TestRecordCompareAndSwap(t *testing.T) {
	c := storetest.Etcd(t)
	ctx := t.Context()
	resp, err := c.Put(ctx, "/election/a", "")
	if err != nil {
		t.Fatal(err)
	}
	fence := store.Fence{Key: "/election/a", Epoch: resp.Header.Revision}

	// Create: only while absent.
	var tx store.Txn
	if err := store.New("/r", counter{1}).Put(&tx); err != nil {
		t.Fatal(err)
	}
	if _, err := fence.Commit(ctx, c, &tx); err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := fence.Commit(ctx, c, &tx); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}

	// A write on a stale read loses.
	stale, err := store.Read[counter](ctx, c, "/r")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Update(ctx, c, fence, "/r", func(v *counter, _ *store.Txn) (bool, error) { v.N++; return true, nil }); err != nil {
		t.Fatal(err)
	}
	tx = store.Txn{}
	stale.Value.N = 100
	_ = stale.Put(&tx)
	if _, err := fence.Commit(ctx, c, &tx); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("write on a stale revision: %v, want ErrConflict", err)
	}

	// Concurrent updates each apply once (each retries on conflict).
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := store.Update(ctx, c, fence, "/r", func(v *counter, _ *store.Txn) (bool, error) { v.N++; return true, nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	r, err := store.Read[counter](ctx, c, "/r")
	if err != nil {
		t.Fatal(err)
	}
	if r.Value.N != 10 {
		t.Fatalf("after 1+1+8 increments N=%d", r.Value.N)
	}

	// An update under a lost leadership is fenced and writes nothing.
	if _, err := c.Delete(ctx, "/election/a"); err != nil {
		t.Fatal(err)
	}
	_, err = store.Update(ctx, c, fence, "/r", func(v *counter, _ *store.Txn) (bool, error) { v.N = 0; return true, nil })
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("update after the fence key went: %v, want ErrFenced", err)
	}
	if r, _ = store.Read[counter](context.Background(), c, "/r"); r.Value.N != 10 {
		t.Fatalf("fenced update wrote N=%d", r.Value.N)
	}
	if _, err := store.Read[counter](ctx, c, "/absent"); !errors.Is(err, store.ErrNotFound) || api.CodeOf(err) != api.CodeUnknownEntity {
		t.Fatalf("read of an absent key: %v (code %s)", err, api.CodeOf(err))
	}
	if api.CodeOf(err) != api.CodeUnavailable {
		t.Fatalf("code of a fenced write: %s", api.CodeOf(err))
	}
}
