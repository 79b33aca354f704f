package master_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/master/mastertest/agenttest"
	"github.com/drover-project/drover/nodeagent/hv/fake"
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

// TestInstanceBatchCreateBulk: a batch of 70 reserves its records in two
// transactions (60 and 10) against one read of the state cache. The checks
// count the vcpus of the batch's own instances (2 each on a node of 32 CPUs,
// vcpu ratio 4: 64 fit); a name taken in the index after the submit (while
// a job holds the node) makes its transaction fail, and the records of that
// transaction are then written one by one, so that only that one is left
// out. Every created instance has its own MACs.
func TestInstanceBatchCreateBulk(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{Masters: 1, API: true, Extra: defaultExtra})
	m := c.Masters[0].M
	agenttest.Start(t, m, "big", fake.New(fake.Options{CPUs: 32, MemoryMiB: 65536}))
	if _, err := m.ImportTemplate(ctx(t), mastertest.Admin, "tiny", bytes.NewReader(tinyRootfs(t))); err != nil {
		t.Fatalf("import template: %v", err)
	}
	var b api.InstanceBatchCreate
	for i := range 70 {
		a := addReq(fmt.Sprintf("bulk%02d", i))
		a.Node, a.VCPUs, a.NoStart = "big", 2, true
		a.NICs = []api.InstanceNIC{{}}
		b.Instances = append(b.Instances, a)
	}
	hold := mastertest.Submit(t, m, 0, holdOp(t, "big", 3*time.Second))
	mastertest.WaitJobState(t, m, hold, 10*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning })
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceBatchCreate, b))
	// Taken after the batch's submit-time check, as a concurrent add of
	// "BULK07" on another node would take it.
	if _, err := m.Client().Put(ctx(t), keys.NameKey(keys.InstancesPrefix, "bulk07"), `"BULK07"`); err != nil {
		t.Fatal(err)
	}
	j := mastertest.WaitJob(t, m, id, 60*time.Second)
	if j.State != api.JobSuccess {
		t.Fatalf("batch: %s %+v", j.State, j.Error)
	}
	var res api.InstanceBatchResult
	if err := json.Unmarshal(j.Result, &res); err != nil {
		t.Fatal(err)
	}
	// bulk07 passed the checks (the cache holds records, not the index) and
	// counted its vcpus: 64 accepted are bulk00-bulk63, bulk64-69 did not fit.
	var wantOK, wantFailed []string
	for i := range 70 {
		n := fmt.Sprintf("bulk%02d", i)
		if i == 7 || i >= 64 {
			wantFailed = append(wantFailed, n)
		} else {
			wantOK = append(wantOK, n)
		}
	}
	if !slices.Equal(res.Created, wantOK) || !slices.Equal(res.Failed, wantFailed) {
		t.Fatalf("created %v\nfailed %v\nwant created %v, failed %v", res.Created, res.Failed, wantOK, wantFailed)
	}
	var lines []string
	for _, l := range j.Log {
		lines = append(lines, l.Message)
	}
	logs := strings.Join(lines, "\n")
	for _, want := range []string{"instance bulk07 not created: instance \"bulk07\" already exists",
		"instance bulk64 not created: node big: 128 vcpus of its instances plus 2 pass its limit of 128"} {
		if !strings.Contains(logs, want) {
			t.Errorf("job log lacks %q:\n%s", want, logs)
		}
	}
	macs := map[string]string{}
	for _, n := range wantOK {
		in, err := m.GetInstance(ctx(t), n)
		if err != nil {
			t.Fatalf("get %s: %v", n, err)
		}
		if len(in.NICs) != 1 || in.NICs[0].MAC == "" || macs[in.NICs[0].MAC] != "" {
			t.Fatalf("%s: NICs %+v (MAC also of %s)", n, in.NICs, macs[in.NICs[0].MAC])
		}
		macs[in.NICs[0].MAC] = n
	}
	if _, err := m.GetInstance(ctx(t), "bulk07"); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Errorf("bulk07: %v, want unknown_entity", err)
	}
}
