package master_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/mastertest"
)

// TestInstanceBatchCreate creates instances in one job through the real
// agent: those that pass are created (and running unless no_start), one on
// an unreachable node is reported and nothing of it is left behind; a batch
// with a taken or repeated name is refused at submit.
func TestInstanceBatchCreate(t *testing.T) {
	e := startInstEnv(t)
	if j := e.run(t, api.OpInstanceAdd, addReq("taken")); j.State != api.JobSuccess {
		t.Fatalf("add: %+v", j.Error)
	}
	off := addReq("b4")
	off.Node = "node2" // no agent: unreachable
	stopped := addReq("b3")
	stopped.NoStart = true
	b := api.InstanceBatchCreate{Instances: []api.InstanceAdd{addReq("b1"), addReq("b2"), stopped, off}}
	j := e.run(t, api.OpInstanceBatchCreate, b)
	if j.State != api.JobSuccess {
		t.Fatalf("batch: %s %+v", j.State, j.Error)
	}
	var res api.InstanceBatchResult
	if err := json.Unmarshal(j.Result, &res); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Created, []string{"b1", "b2", "b3"}) || !slices.Equal(res.Failed, []string{"b4"}) {
		t.Errorf("result %+v, want b1-b3 created, b4 not", res)
	}
	for name, want := range map[string]string{"b1": api.InstRunning, "b2": api.InstRunning, "b3": api.InstAdminDown} {
		waitStatus(t, e, name, want, 10*time.Second)
	}
	if _, err := e.m.GetInstance(ctx(t), "b4"); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Errorf("b4 after its failure: %v, want unknown_entity", err)
	}
	t.Run("refused at submit", func(t *testing.T) {
		for name, tc := range map[string]struct {
			b    api.InstanceBatchCreate
			code api.Code
		}{
			"empty":      {api.InstanceBatchCreate{}, api.CodeWrongInput},
			"twice":      {api.InstanceBatchCreate{Instances: []api.InstanceAdd{addReq("d1"), addReq("D1")}}, api.CodeWrongInput},
			"name taken": {api.InstanceBatchCreate{Instances: []api.InstanceAdd{addReq("d2"), addReq("taken")}}, api.CodeAlreadyExists},
		} {
			_, err := e.m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpInstanceBatchCreate, tc.b)}})
			if api.CodeOf(err) != tc.code {
				t.Errorf("%s: %v, want %s", name, err, tc.code)
			}
		}
	})
	t.Run("none created", func(t *testing.T) {
		if j := e.run(t, api.OpInstanceBatchCreate, api.InstanceBatchCreate{Instances: []api.InstanceAdd{off}}); j.State != api.JobError {
			t.Errorf("batch of one unreachable: %s, want error", j.State)
		}
	})
}
