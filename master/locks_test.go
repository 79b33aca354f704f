package master_test

import (
	"slices"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/mastertest"
)

// TestNodeLockCoversItsInstances: a job on an instance holds the
// instance's node shared (computed when it starts), so a job that takes the
// node exclusively (node modify) waits for it; a node-wide job computes the
// locks of every instance on the node.
func TestNodeLockCoversItsInstances(t *testing.T) {
	e := startAgentEnv(t, mastertest.Options{})
	a := fileAdd("s1")
	a.NoStart = true
	if j := e.run(t, api.OpInstanceAdd, a); j.State != api.JobSuccess {
		t.Fatalf("add s1: %+v", j.Error)
	}
	reached, release := e.a.Driver.Hold("start", "s1")
	defer release()
	start := mastertest.Submit(t, e.m, 0, mastertest.Op(t, api.OpInstanceStartup, api.InstanceStartup{Name: "s1"}))
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("startup did not reach the hypervisor's start")
	}
	j, err := e.m.GetJob(ctx(t), start)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{jobs.Shared("node/node1"), "instance/s1"}; !slices.Equal(j.Locks, want) {
		t.Fatalf("startup's locks %v, want %v", j.Locks, want)
	}
	drained := true
	mod := mastertest.Submit(t, e.m, 0, mastertest.Op(t, api.OpNodeModify, api.NodeModifyOp{Name: "node1", NodeModify: api.NodeModify{Drained: &drained}}))
	mastertest.WaitJobState(t, e.m, mod, 20*time.Second, func(j *api.Job) bool { return j.State == api.JobWaiting })
	release()
	for _, id := range []uint64{start, mod} {
		if j := mastertest.WaitJob(t, e.m, id, 60*time.Second); j.State != api.JobSuccess {
			t.Fatalf("job %d: %s %+v", id, j.State, j.Error)
		}
	}
	// A node evacuation locks what is on the node when it starts.
	ev, err := e.m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpNodeEvacuate, api.NodeEvacuate{Name: "node1"})}})
	if err != nil {
		t.Fatalf("submit evacuate: %v", err)
	}
	j = mastertest.WaitJob(t, e.m, ev, 60*time.Second)
	if !slices.Contains(j.Locks, "node/node1") || !slices.Contains(j.Locks, "instance/s1") {
		t.Fatalf("evacuation of node1 (%s %+v) locked %v; want node/node1 and instance/s1", j.State, j.Error, j.Locks)
	}
	locks, err := e.m.NodeInstanceLocks(ctx(t), "node1")
	if err != nil || !slices.Equal(locks, []string{"instance/s1"}) {
		t.Fatalf("locks of what is on node1: %v %v", locks, err)
	}
}
