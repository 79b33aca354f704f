package jobs

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// TestCancelRunningJobRunsUndo: `job cancel` of a running job stops it at
// the next step boundary; the undo of each done step runs, last first; the
// steps after it never run; the job ends canceled.
func TestCancelRunningJobRunsUndo(t *testing.T) {
	var mu sync.Mutex
	var trail []string
	note := func(s string) { mu.Lock(); trail = append(trail, s); mu.Unlock() }
	inStep1, release := make(chan struct{}), make(chan struct{})
	k := Kind{
		Name: "test.three",
		Steps: func(json.RawMessage) ([]Step, error) {
			return []Step{
				{Name: "make", Run: func(_ context.Context, sc *StepContext) error {
					note("run make")
					sc.Then(clientv3.OpPut("/test/made", "x"))
					return nil
				}, Undo: func(_ context.Context, sc *StepContext) error {
					note("undo make")
					sc.Then(clientv3.OpDelete("/test/made"))
					return nil
				}},
				{Name: "slow", Run: func(ctx context.Context, sc *StepContext) error {
					note("run slow")
					close(inStep1)
					select {
					case <-release:
					case <-ctx.Done():
						return ctx.Err()
					}
					return nil
				}, Undo: func(context.Context, *StepContext) error { note("undo slow"); return nil }},
				{Name: "never", Run: func(context.Context, *StepContext) error { note("run never"); return nil }},
			}, nil
		},
	}
	h := startHarness(t, k)
	id := h.submit(t, op(t, "test.three", struct{}{}))
	<-inStep1
	if err := h.q.Cancel(t.Context(), id); err != nil {
		t.Fatalf("cancel running job: %v", err)
	}
	close(release)
	j := h.waitJob(t, id, "finished", finished)
	if j.State != api.JobCanceled || !j.CancelRequested || j.OpStatus[0].State != api.JobCanceled || j.OpStatus[0].StepsDone != 0 {
		t.Fatalf("job after cancel: state %s cancel_requested %v op %+v", j.State, j.CancelRequested, j.OpStatus[0])
	}
	mu.Lock()
	got := slices.Clone(trail)
	mu.Unlock()
	if want := []string{"run make", "run slow", "undo slow", "undo make"}; !slices.Equal(got, want) {
		t.Fatalf("steps ran as %v, want %v", got, want)
	}
	for _, key := range []string{"/test/made", keys.JobCancelKey(id)} {
		if r, err := h.c.Get(t.Context(), key); err != nil || r.Count != 0 {
			t.Errorf("%s left after the cancel (%v)", key, err)
		}
	}
	var logs []string
	for _, l := range j.Log {
		logs = append(logs, l.Message)
	}
	if s := strings.Join(logs, "\n"); !strings.Contains(s, "cancel requested: undoing 2 done step(s)") || !strings.Contains(s, "step make undone") {
		t.Errorf("job log:\n%s", s)
	}
	if err := h.q.Cancel(t.Context(), id); api.CodeOf(err) != api.CodeWrongState {
		t.Fatalf("cancel of a canceled job: %v", err)
	}
}
