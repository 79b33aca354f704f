package jobs

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
)

// TestFailedStepKeepsItsLog: the lines a step logs before it fails (what it
// undid, say) are in the failed job's log, before the failure line, and
// what it meant to write with its checkpoint is not written.
func TestFailedStepKeepsItsLog(t *testing.T) {
	k := Kind{
		Name: "test.fails",
		Steps: func(json.RawMessage) ([]Step, error) {
			return []Step{
				{Name: "ok", Run: func(_ context.Context, sc *StepContext) error {
					sc.Logf("first step done")
					return nil
				}},
				{Name: "fails", Run: func(_ context.Context, sc *StepContext) error {
					sc.Logf("reverted what the step began")
					sc.Then(clientv3.OpPut("/test/half", "x"))
					return api.Errorf(api.CodeWrongState, "injected failure")
				}},
			}, nil
		},
	}
	h := startHarness(t, k)
	id := h.submit(t, op(t, "test.fails", struct{}{}))
	j := h.waitJob(t, id, "finished", finished)
	if j.State != api.JobError || j.Error == nil || j.Error.Code != api.CodeWrongState {
		t.Fatalf("job: %s %+v", j.State, j.Error)
	}
	var logs []string
	for i, l := range j.Log {
		if l.Serial != i+1 {
			t.Errorf("log line %d has serial %d", i+1, l.Serial)
		}
		logs = append(logs, l.Message)
	}
	s := strings.Join(logs, "\n")
	first, reverted, failed := strings.Index(s, "first step done"), strings.Index(s, "reverted what the step began"), strings.Index(s, "failed: ")
	if first < 0 || reverted < first || failed < reverted {
		t.Errorf("job log (want the first step's line, the failed step's line, then the failure):\n%s", s)
	}
	if r, err := h.c.Get(t.Context(), "/test/half"); err != nil || r.Count != 0 {
		t.Errorf("the failed step's write was committed (%v)", err)
	}
}
