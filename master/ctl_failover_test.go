package master_test

import (
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// TestFailoverControllerFencedPrimary: node2 (no agent) is recorded fenced
// by the liveness controller; the failover controller's step moves the
// running drbd instance on it to its secondary node1 (the stand-in) in one
// instance.failover job and starts it there, leaves the stopped one on
// node2, waits for an unfinished failover job an earlier leader submitted
// instead of submitting a second, and a second run (a new leader carrying
// on) submits nothing more.
func TestFailoverControllerFencedPrimary(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	drbd := func(name string, up bool) keys.InstanceRecord {
		return keys.InstanceRecord{Name: name, UUID: "5b0c3f36-8d7e-4d53-9a55-0f1f6f3a9e1" + name[len(name)-1:], PrimaryNode: "node2", OS: "tiny", OSVersion: 1,
			Hypervisor: "fake", DiskTemplate: "drbd", VCPUs: 1, MemoryMiB: 128, AdminUp: up,
			Disks: []keys.DiskSpec{{SizeMiB: 64, DRBD: &keys.DRBDDisk{Resource: name + "-d0", Port: 11000 + int(name[len(name)-1]-'0'), Secret: "c2VjcmV0",
				Nodes: []keys.DRBDNode{{Node: "node2", IP: "198.18.0.2", Minor: 0}, {Node: "node1", IP: "198.18.0.1", Minor: 0, NodeID: 1}}}}}}
	}
	e.si.putJSON(ctx(t), t, keys.InstanceKey("m1"), drbd("m1", true))
	e.si.putJSON(ctx(t), t, keys.InstanceKey("s2"), drbd("s2", false))
	e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node1"), keys.DRBDState{Version: "8.4.11", ObservedAt: time.Now().UTC(),
		Resources: []keys.DRBDResource{{Name: "m1-d0", Role: "Secondary", Disk: "UpToDate"}, {Name: "s2-d0", Role: "Secondary", Disk: "UpToDate"}}})
	e.si.putJSON(ctx(t), t, keys.NodeHealthKey("node2"), keys.NodeHealthRecord{NodeHealth: api.NodeHealth{State: api.NodeFenced, Method: "stonith", Since: time.Now().UTC()}})

	// m3's failover is already in a job an earlier leader submitted (it
	// runs a delay first): the step waits for that job, submits none.
	e.si.putJSON(ctx(t), t, keys.InstanceKey("m3"), drbd("m3", true))
	e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node1"), keys.DRBDState{Version: "8.4.11", ObservedAt: time.Now().UTC(),
		Resources: []keys.DRBDResource{{Name: "m1-d0", Role: "Secondary", Disk: "UpToDate"}, {Name: "s2-d0", Role: "Secondary", Disk: "UpToDate"},
			{Name: "m3-d0", Role: "Secondary", Disk: "UpToDate"}}})
	if _, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{
		mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "2s", Steps: 2}),
		mastertest.Op(t, api.OpInstanceFailover, api.InstanceFailover{Name: "m3"})}}); err != nil {
		t.Fatalf("submit the earlier failover of m3: %v", err)
	}

	log := slog.New(slog.DiscardHandler)
	if err := m.FailoverNode(ctx(t), "node2", log); err != nil {
		t.Fatalf("failover step: %v", err)
	}
	var got keys.InstanceRecord
	for _, c := range []struct {
		name, primary string
	}{{"m1", "node1"}, {"s2", "node2"}, {"m3", "node1"}} {
		r, err := m.Client().Get(ctx(t), keys.InstanceKey(c.name))
		if err != nil || len(r.Kvs) != 1 {
			t.Fatalf("read %s: %v", c.name, err)
		}
		if err := json.Unmarshal(r.Kvs[0].Value, &got); err != nil {
			t.Fatal(err)
		}
		if got.PrimaryNode != c.primary {
			t.Errorf("%s: primary %s, want %s", c.name, got.PrimaryNode, c.primary)
		}
	}
	kinds := e.si.kinds()
	for _, k := range []string{keys.CmdDiskPrimary, keys.CmdInstanceCreate, keys.CmdInstanceStart} {
		if !slices.Contains(kinds, k) {
			t.Errorf("node1 got no %s (got %v)", k, kinds)
		}
	}
	if err := m.FailoverNode(ctx(t), "node2", log); err != nil {
		t.Fatalf("second failover step: %v", err)
	}
	js, err := m.ListJobs(ctx(t), api.JobFilter{Archived: true})
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, j := range js {
		for _, op := range j.Ops {
			var p api.InstanceFailover
			if op.Kind == api.OpInstanceFailover && json.Unmarshal(op.Params, &p) == nil {
				per[p.Name]++
			}
		}
	}
	if per["m1"] != 1 || per["m3"] != 1 || len(per) != 2 {
		t.Errorf("instance.failover jobs per instance: %v, want one for m1 and one for m3", per)
	}
}
