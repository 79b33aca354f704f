package master_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/master/mastertest/agenttest"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// TestNamesDifferingInCaseRaceToOne: "Web1" on node1 and "web1" on node2,
// submitted while both are free and started by the executor in the same
// pass (a job holding both nodes' locks keeps them waiting until then): one
// add succeeds, the other fails with already_exists and leaves nothing.
// Before the name index both checks passed and both records were written.
func TestNamesDifferingInCaseRaceToOne(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{Masters: 1, API: true, Extra: defaultExtra})
	m := c.Masters[0].M
	for _, n := range []string{"node1", "node2"} {
		agenttest.Start(t, m, n, fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096}))
	}
	if _, err := m.ImportTemplate(ctx(t), mastertest.Admin, "tiny", bytes.NewReader(tinyRootfs(t))); err != nil {
		t.Fatalf("import template: %v", err)
	}
	hold := mastertest.Submit(t, m, 0, holdOp(t, "node1", time.Second), holdOp(t, "node2", time.Second))
	mastertest.WaitJobState(t, m, hold, 10*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning })
	a, b := addReq("Web1"), addReq("web1")
	b.Node = "node2"
	ids := []uint64{mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceAdd, a)),
		mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceAdd, b))}
	if j := mastertest.WaitJob(t, m, hold, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("hold job: %+v", j.Error)
	}
	ok, lost := 0, 0
	for _, id := range ids {
		j := mastertest.WaitJob(t, m, id, 30*time.Second)
		switch {
		case j.State == api.JobSuccess:
			ok++
		case j.Error != nil && j.Error.Code == api.CodeAlreadyExists && strings.Contains(j.Error.Message, "without regard to case"):
			lost++
		default:
			t.Errorf("job %d: %s %+v", id, j.State, j.Error)
		}
	}
	if ok != 1 || lost != 1 {
		t.Fatalf("%d adds succeeded, %d refused as existing; want 1 and 1", ok, lost)
	}
	resp, err := m.Client().Get(ctx(t), keys.InstancesPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil || resp.Count != 1 {
		t.Fatalf("instance records: %d (%v), want 1", resp.Count, err)
	}
}

// TestNameIndexBackfilled: a record written before the name index existed
// gets its index key when a master starts leading, so that a name differing
// only in case is refused at submit.
func TestNameIndexBackfilled(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{Masters: 1})
	m := c.Masters[0].M
	if _, err := m.Client().Put(ctx(t), keys.InstanceKey("Legacy1"), `{"name":"Legacy1","primary_node":"node1"}`); err != nil {
		t.Fatal(err)
	}
	c.Stop(0)
	c.Restart(0)
	c.WaitLeader(30 * time.Second)
	m = c.Masters[0].M
	mastertest.WaitFor(t, 20*time.Second, "index key of Legacy1", func() bool {
		r, err := m.Client().Get(ctx(t), keys.NameKey(keys.InstancesPrefix, "legacy1"))
		return err == nil && len(r.Kvs) == 1 && string(r.Kvs[0].Value) == `"Legacy1"`
	})
	_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpInstanceAdd, addReq("LEGACY1"))}})
	if api.CodeOf(err) != api.CodeAlreadyExists || !strings.Contains(err.Error(), `"Legacy1"`) {
		t.Fatalf("add LEGACY1 next to the legacy record Legacy1: %v", err)
	}
}
