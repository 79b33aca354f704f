package master_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/mastertest"
)

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSingleMasterJobsAndNodes(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{Masters: 1, Extra: defaultExtra})
	m := c.Masters[0].M

	t.Run("cluster info", func(t *testing.T) {
		ci, err := m.ClusterInfo(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if ci.Name != "test" || ci.Leader != "m1" || ci.Epoch == 0 || len(ci.Masters) != 1 || !ci.Masters[0].Healthy || ci.AnsweredBy != "m1" {
			t.Fatalf("cluster info %+v", ci)
		}
	})

	t.Run("debug delay lifecycle", func(t *testing.T) {
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "300ms", Steps: 3}))
		j := mastertest.WaitJob(t, m, id, 10*time.Second)
		if j.State != api.JobSuccess || j.OpStatus[0].StepsDone != 3 || j.Runs != 1 || j.StartedAt == nil || j.EndedAt == nil {
			t.Fatalf("job %+v", j)
		}
		if got := countLog(j, "step 2/3 done"); got != 1 {
			t.Fatalf("step 2/3 logged %d times: %+v", got, j.Log)
		}
		for i, l := range j.Log {
			if l.Serial != i+1 {
				t.Fatalf("log serials: %+v", j.Log)
			}
		}
	})

	t.Run("debug delay failure", func(t *testing.T) {
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "20ms", Steps: 2, Fail: true}))
		j := mastertest.WaitJob(t, m, id, 10*time.Second)
		if j.State != api.JobError || j.Error == nil || j.Error.Code != api.CodeWrongState || j.OpStatus[0].StepsDone != 1 {
			t.Fatalf("job %+v", j)
		}
	})

	t.Run("panicking step fails the job, not the master", func(t *testing.T) {
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, opHold, holdParams{Lock: "p", Panic: true}))
		j := mastertest.WaitJob(t, m, id, 10*time.Second)
		if j.State != api.JobError || j.Error.Code != api.CodeInternal {
			t.Fatalf("job %+v", j)
		}
	})

	t.Run("submit validation", func(t *testing.T) {
		for name, tc := range map[string]struct {
			sub  api.JobSubmit
			code api.Code
		}{
			"no ops":         {api.JobSubmit{}, api.CodeWrongInput},
			"unknown kind":   {api.JobSubmit{Ops: []api.OpCode{{Kind: "x.y"}}}, api.CodeWrongInput},
			"priority":       {api.JobSubmit{Priority: 20, Ops: []api.OpCode{mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "1s"})}}, api.CodeWrongInput},
			"bad duration":   {api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "soon"})}}, api.CodeWrongInput},
			"unknown field":  {api.JobSubmit{Ops: []api.OpCode{{Kind: api.OpDebugDelay, Params: []byte(`{"duration":"1s","x":1}`)}}}, api.CodeWrongInput},
			"bad hostname":   {api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "-bad_"})}}, api.CodeWrongInput},
			"remove unknown": {api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpNodeRemove, api.NodeRemove{Name: "nope"})}}, api.CodeUnknownEntity},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := m.SubmitJob(ctx(t), mastertest.Admin, tc.sub)
				if api.CodeOf(err) != tc.code {
					t.Fatalf("got %v, want %s", err, tc.code)
				}
			})
		}
	})

	t.Run("node add modify remove", func(t *testing.T) {
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "node1", SecondaryIP: "10.0.0.1"}))
		if j := mastertest.WaitJob(t, m, id, 10*time.Second); j.State != api.JobSuccess {
			t.Fatalf("node add: %+v", j)
		}
		n, err := m.GetNode(ctx(t), "node1")
		if err != nil {
			t.Fatal(err)
		}
		if n.Status != api.NodeUnreachable || !n.MasterCapable || !n.VMCapable || n.Group != "default" || n.SecondaryIP != "10.0.0.1" {
			t.Fatalf("node %+v", n)
		}
		_, err = m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "node1"})}})
		if api.CodeOf(err) != api.CodeAlreadyExists {
			t.Fatalf("second add: %v", err)
		}
		yes := true
		id = mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeModify, api.NodeModifyOp{Name: "node1", NodeModify: api.NodeModify{Drained: &yes, Offline: &yes}}))
		if j := mastertest.WaitJob(t, m, id, 10*time.Second); j.State != api.JobSuccess {
			t.Fatalf("node modify: %+v", j)
		}
		n, _ = m.GetNode(ctx(t), "node1")
		if !n.Drained || !n.Offline || n.Status != api.NodeOffline {
			t.Fatalf("modified node %+v", n)
		}
		rep, err := m.ClusterVerify(ctx(t))
		if err != nil || !hasFinding(rep, "ENODEDRAINED") || !hasFinding(rep, "ENODEOFFLINE") {
			t.Fatalf("verify %+v %v", rep, err)
		}
		id = mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeRemove, api.NodeRemove{Name: "node1"}))
		if j := mastertest.WaitJob(t, m, id, 10*time.Second); j.State != api.JobSuccess {
			t.Fatalf("node remove: %+v", j)
		}
		if _, err := m.GetNode(ctx(t), "node1"); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("removed node: %v", err)
		}
		if _, err := m.NodeCredentials(ctx(t), "node1"); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("credentials of removed node: %v", err)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		// A job on a held lock waits; it can be canceled. A running job can
		// be asked to stop, at its next step boundary: a request during its
		// last step comes too late, and the job succeeds.
		hold := mastertest.Submit(t, m, 0, holdOp(t, "lockA", 400*time.Millisecond))
		mastertest.WaitJobState(t, m, hold, 5*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning })
		w := mastertest.Submit(t, m, 0, holdOp(t, "lockA", 0))
		mastertest.WaitJobState(t, m, w, 5*time.Second, func(j *api.Job) bool { return j.State == api.JobWaiting })
		if err := m.CancelJob(ctx(t), hold); err != nil {
			t.Fatalf("cancel running: %v", err)
		}
		if err := m.CancelJob(ctx(t), w); err != nil {
			t.Fatalf("cancel waiting: %v", err)
		}
		if j := mastertest.WaitJob(t, m, w, 5*time.Second); j.State != api.JobCanceled || j.StartedAt != nil {
			t.Fatalf("canceled job %+v", j)
		}
		if j := mastertest.WaitJob(t, m, hold, 5*time.Second); j.State != api.JobSuccess {
			t.Fatalf("holder %+v", j)
		}
		if err := m.CancelJob(ctx(t), w); api.CodeOf(err) != api.CodeWrongState {
			t.Fatalf("cancel canceled: %v", err)
		}
		if _, err := m.GetJob(ctx(t), 999999); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("get unknown job: %v", err)
		}
	})

	t.Run("locks and priority", func(t *testing.T) {
		hold := mastertest.Submit(t, m, 0, holdOp(t, "lockB", 2*time.Second)) // a margin for a loaded machine
		mastertest.WaitJobState(t, m, hold, 5*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning })
		low := mastertest.Submit(t, m, 10, holdOp(t, "lockB", 0))
		high := mastertest.Submit(t, m, -10, holdOp(t, "lockB", 0))
		other := mastertest.Submit(t, m, 0, holdOp(t, "lockC", 0))
		jo := mastertest.WaitJob(t, m, other, 5*time.Second)
		jh := mastertest.WaitJob(t, m, hold, 5*time.Second)
		if !jo.EndedAt.Before(*jh.EndedAt) {
			t.Fatalf("job on a free lock waited for the holder")
		}
		jl := mastertest.WaitJob(t, m, low, 5*time.Second)
		jhi := mastertest.WaitJob(t, m, high, 5*time.Second)
		if jhi.StartedAt.After(*jl.StartedAt) || jhi.StartedAt.Before(*jh.EndedAt) {
			t.Fatalf("order: holder ended %v, high started %v, low started %v", jh.EndedAt, jhi.StartedAt, jl.StartedAt)
		}
		if countLog(jl, "waiting for locks") != 1 {
			t.Fatalf("low priority job log %+v", jl.Log)
		}
	})

	t.Run("list", func(t *testing.T) {
		all, err := m.ListJobs(ctx(t), api.JobFilter{})
		if err != nil || len(all) < 5 || all[0].ID < all[1].ID {
			t.Fatalf("list: %d %v", len(all), err)
		}
		ok, _ := m.ListJobs(ctx(t), api.JobFilter{States: []api.JobState{api.JobCanceled}, Limit: 1})
		if len(ok) != 1 || ok[0].State != api.JobCanceled {
			t.Fatalf("filtered list %+v", ok)
		}
	})
}

func countLog(j *api.Job, msg string) int {
	n := 0
	for _, l := range j.Log {
		if strings.Contains(l.Message, msg) {
			n++
		}
	}
	return n
}

func hasFinding(r *api.VerifyReport, code string) bool {
	for _, f := range r.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}
