package jobs

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/store"
	"github.com/drover-project/drover/master/store/storetest"
)

// harness runs a real executor and queue over a real embedded etcd, with
// the test's own opcode kinds. When the test ends it stops the executor
// and checks that no goroutine of the executor or its jobs is left.
type harness struct {
	c *clientv3.Client
	q *Queue
}

func startHarness(t *testing.T, kinds ...Kind) *harness {
	t.Helper()
	c := storetest.Etcd(t)
	reg := NewRegistry()
	for _, k := range kinds {
		if err := reg.Register(k); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.Put(t.Context(), "/test/election", "leader")
	if err != nil {
		t.Fatal(err)
	}
	// Goroutines of etcd and its client are there before the executor's.
	leakOpts := []goleak.Option{goleak.IgnoreCurrent()}
	fence := store.Fence{Key: "/test/election", Epoch: resp.Header.Revision}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewExecutor(c, reg, fence, 0, slog.New(slog.DiscardHandler)).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("executor did not stop within 30s of its context's end")
		}
		goleak.VerifyNone(t, leakOpts...)
	})
	return &harness{c: c, q: NewQueue(c, reg, slog.New(slog.DiscardHandler))}
}

func (h *harness) submit(t *testing.T, ops ...api.OpCode) uint64 {
	t.Helper()
	id, err := h.q.Submit(t.Context(), api.Principal{User: "test"}, api.JobSubmit{Ops: ops})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return id
}

// waitJob waits (by the queue's watch) until cond holds for job id.
func (h *harness) waitJob(t *testing.T, id uint64, what string, cond func(*api.Job) bool) *api.Job {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var state api.JobState
	n := -1
	for time.Now().Before(deadline) {
		j, err := h.q.Wait(t.Context(), id, state, n, time.Until(deadline))
		if err != nil {
			t.Fatalf("wait job %d: %v", id, err)
		}
		if cond(j) {
			return j
		}
		if j.State.Finished() {
			t.Fatalf("job %d finished %s (%+v) before %s", id, j.State, j.Error, what)
		}
		state, n = j.State, len(j.Log)
	}
	t.Fatalf("job %d: not %s within 30s", id, what)
	return nil
}

func finished(j *api.Job) bool { return j.State.Finished() }

func op(t *testing.T, kind string, params any) api.OpCode {
	t.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	return api.OpCode{Kind: kind, Params: b}
}
