package master_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// failKind makes the stand-in answer every command of kind with e (nil: done).
func (s *standIn) failKind(kind string, e *api.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e == nil {
		delete(s.fail, kind)
		return
	}
	s.fail[kind] = e
}

// haInstance is a running drbd instance with its primary on node2 and its
// secondary on node1 (the stand-in), n its number (port, UUID).
func haInstance(name string, n int, memMiB int64, ha api.InstanceHA) keys.InstanceRecord {
	return keys.InstanceRecord{Name: name, UUID: fmt.Sprintf("7d2a41c0-3b9e-4f1a-8c6d-%012d", n), PrimaryNode: "node2", OS: "tiny", OSVersion: 1,
		Hypervisor: "fake", DiskTemplate: "drbd", VCPUs: 1, MemoryMiB: memMiB, AdminUp: true, InstanceHA: ha,
		Disks: []keys.DiskSpec{{SizeMiB: 64, DRBD: &keys.DRBDDisk{Resource: name + "-d0", Port: 11100 + n, Secret: "c2VjcmV0",
			Nodes: []keys.DRBDNode{{Node: "node2", IP: "198.18.0.2", Minor: n}, {Node: "node1", IP: "198.18.0.1", Minor: n, NodeID: 1}}}}}}
}

// putHAInstances writes the records, node1's DRBD state (every resource
// UpToDate there) and node2's liveness record (fenced).
func putHAInstances(t *testing.T, e *instEnv, recs ...keys.InstanceRecord) {
	t.Helper()
	st := keys.DRBDState{Version: "8.4.11", ObservedAt: time.Now().UTC()}
	for _, r := range recs {
		e.si.putJSON(ctx(t), t, keys.InstanceKey(r.Name), r)
		st.Resources = append(st.Resources, keys.DRBDResource{Name: r.Name + "-d0", Role: "Secondary", Disk: "UpToDate"})
	}
	e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node1"), st)
	e.si.putJSON(ctx(t), t, keys.NodeHealthKey("node2"), keys.NodeHealthRecord{NodeHealth: api.NodeHealth{State: api.NodeFenced, Method: "stonith", Since: time.Now().UTC()}})
}

// failoverJobs maps instance name -> ids of its instance.failover jobs.
func failoverJobs(t *testing.T, m *master.Master) map[string][]uint64 {
	t.Helper()
	js, err := m.ListJobs(ctx(t), api.JobFilter{Archived: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]uint64{}
	for _, j := range js {
		for _, op := range j.Ops {
			var p api.InstanceFailover
			if op.Kind == api.OpInstanceFailover && json.Unmarshal(op.Params, &p) == nil {
				out[p.Name] = append(out[p.Name], j.ID)
			}
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// eventKinds lists the kinds of an instance's HA events.
func eventKinds(in *api.Instance) []string {
	var out []string
	if in.HA != nil {
		for _, e := range in.HA.Events {
			out = append(out, e.Kind)
		}
	}
	return out
}

// TestFailoverHAPriority: three running drbd instances on the fenced node2
// whose secondary node1 reports 4096 MiB free. In name order a1 (2048 MiB)
// and c3 (1024) would fit and b2 (3000) not; by ha_priority (b2 10, c3 5,
// a1 0) b2 and c3 get the memory and a1 is reported (an event in its HA
// record), not overcommitted. The jobs are submitted in priority order.
func TestFailoverHAPriority(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	putHAInstances(t, e,
		haInstance("a1", 1, 2048, api.InstanceHA{}),
		haInstance("b2", 2, 3000, api.InstanceHA{HAPriority: 10}),
		haInstance("c3", 3, 1024, api.InstanceHA{HAPriority: 5}))
	if err := m.FailoverNode(ctx(t), "node2", slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("failover step: %v", err)
	}
	want := map[string]string{"a1": "node2", "b2": "node1", "c3": "node1"}
	for name, primary := range want {
		in, err := m.GetInstance(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		if in.PrimaryNode != primary {
			t.Errorf("%s: primary %s, want %s", name, in.PrimaryNode, primary)
		}
		if name == "b2" && in.HAPriority != 10 {
			t.Errorf("b2: ha_priority %d in the API, want 10", in.HAPriority)
		}
		kinds := eventKinds(in)
		switch name {
		case "a1":
			if !slices.Equal(kinds, []string{"failover_no_fit"}) {
				t.Errorf("a1: HA events %v, want [failover_no_fit]", kinds)
			} else if msg := in.HA.Events[0].Message; in.HA.Events[0].Node != "node1" || msg == "" {
				t.Errorf("a1: no_fit event %+v", in.HA.Events[0])
			}
		default:
			if !slices.Equal(kinds, []string{"failover_done"}) {
				t.Errorf("%s: HA events %v, want [failover_done]", name, kinds)
			}
		}
	}
	jobs := failoverJobs(t, m)
	if len(jobs["a1"]) != 0 || len(jobs["b2"]) != 1 || len(jobs["c3"]) != 1 {
		t.Fatalf("failover jobs %v, want one for b2 and c3, none for a1", jobs)
	}
	if jobs["b2"][0] > jobs["c3"][0] {
		t.Errorf("b2 (ha_priority 10) got job %d after c3 (5) got %d", jobs["b2"][0], jobs["c3"][0])
	}
	// The list shows the property too.
	list, err := m.ListInstances(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range list {
		if in.Name == "c3" && in.HAPriority != 5 {
			t.Errorf("list: c3 ha_priority %d, want 5", in.HAPriority)
		}
	}
}

// TestFailoverMigrationThreshold: f1 (migration_threshold=1) fails over to
// node1, whose promotion fails: the failure is counted on node1 and the
// step fails; the next step does not choose node1 (failover_banned, no
// job); instance cleanup clears the count and the next step fails it over,
// where its start fails: counted on node1 again. cleanup --node of another
// node leaves that count.
func TestFailoverMigrationThreshold(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	log := slog.New(slog.DiscardHandler)
	putHAInstances(t, e, haInstance("f1", 1, 128, api.InstanceHA{MigrationThreshold: 1}))

	e.si.failKind(keys.CmdDiskPrimary, &api.Error{Code: api.CodeWrongState, Message: "drbdsetup primary: no"})
	if err := m.FailoverNode(ctx(t), "node2", log); err == nil {
		t.Fatal("failover step with a failing promotion: no error")
	}
	in, err := m.GetInstance(ctx(t), "f1")
	if err != nil {
		t.Fatal(err)
	}
	if in.PrimaryNode != "node2" || in.HA == nil || len(in.HA.FailCounts) != 1 || in.HA.FailCounts[0].Node != "node1" || in.HA.FailCounts[0].Count != 1 {
		t.Fatalf("after the failed promotion: primary %s, HA %+v; want node2 and one failure on node1", in.PrimaryNode, in.HA)
	}
	if !slices.Equal(eventKinds(in), []string{"promote_failed", "failover_failed"}) {
		t.Errorf("HA events %v", eventKinds(in))
	}

	e.si.failKind(keys.CmdDiskPrimary, nil)
	if err := m.FailoverNode(ctx(t), "node2", log); err != nil {
		t.Fatalf("failover step with node1 banned: %v", err)
	}
	if n := len(failoverJobs(t, m)["f1"]); n != 1 {
		t.Errorf("%d failover jobs of f1 after the banned step, want still 1", n)
	}
	if in, _ = m.GetInstance(ctx(t), "f1"); in.PrimaryNode != "node2" || !slices.Contains(eventKinds(in), "failover_banned") {
		t.Fatalf("banned step: primary %s, events %v", in.PrimaryNode, eventKinds(in))
	}

	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceCleanup, api.InstanceCleanup{Name: "f1"}))
	if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("instance cleanup: %+v", j.Error)
	}
	if in, _ = m.GetInstance(ctx(t), "f1"); len(in.HA.FailCounts) != 0 || eventKinds(in)[len(in.HA.Events)-1] != "cleanup" {
		t.Fatalf("after cleanup: %+v", in.HA)
	}
	// node1 may be chosen again; this time the promotion works and the
	// start fails: the record moves, the failed start counts on node1.
	e.si.failKind(keys.CmdInstanceStart, &api.Error{Code: api.CodeWrongState, Message: "qemu: no"})
	if err := m.FailoverNode(ctx(t), "node2", log); err == nil {
		t.Fatal("failover step with a failing start: no error")
	}
	if in, _ = m.GetInstance(ctx(t), "f1"); in.PrimaryNode != "node1" {
		t.Fatalf("after cleanup: primary %s, want node1", in.PrimaryNode)
	}
	if in.HA == nil || len(in.HA.FailCounts) != 1 || in.HA.FailCounts[0].Node != "node1" || in.HA.FailCounts[0].LastError != "node node1: qemu: no" {
		t.Fatalf("after the failed start: %+v", in.HA)
	}
	// cleanup --node of another node leaves it.
	id = mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceCleanup, api.InstanceCleanup{Name: "f1", CleanupOptions: api.CleanupOptions{Node: "node2"}}))
	if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("instance cleanup --node node2: %+v", j.Error)
	}
	if in, _ = m.GetInstance(ctx(t), "f1"); len(in.HA.FailCounts) != 1 {
		t.Errorf("cleanup of node2 cleared node1's count: %+v", in.HA)
	}
}

// connectedDRBD is a node's DRBD state with every resource of names
// UpToDate and connected to an UpToDate peer.
func connectedDRBD(role string, names ...string) keys.DRBDState {
	st := keys.DRBDState{Version: "8.4.11", ObservedAt: time.Now().UTC()}
	for _, n := range names {
		st.Resources = append(st.Resources, keys.DRBDResource{Name: n + "-d0", Role: role, Disk: "UpToDate",
			Peers: []keys.DRBDPeer{{Name: "peer", Connection: "Connected", Replication: "Established", PeerDisk: "UpToDate"}}})
	}
	return st
}

// TestFailbackPolicy: fb (failback=on) and st (failback off) are failed
// over from the fenced node2 to node1; node2 comes back (a second
// stand-in) and both are redundant again. The failback pass submits one
// live migration, of fb back to node2, none of st; node2 fails the
// migration, so the next pass records failback_failed and counts it on
// node2, and does not try again before failbackRetry. st stays on node1
// throughout, even in a pass long after (issue 9 point 5).
func TestFailbackPolicy(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	fb, st := haInstance("fb", 1, 128, api.InstanceHA{Failback: true}), haInstance("st", 2, 128, api.InstanceHA{})
	fb.Hypervisor, st.Hypervisor = "workload", "workload" // fake does not migrate
	putHAInstances(t, e, fb, st)
	if err := m.FailoverNode(ctx(t), "node2", slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("failover step: %v", err)
	}
	for _, n := range []string{"fb", "st"} {
		in, err := m.GetInstance(ctx(t), n)
		if err != nil || in.PrimaryNode != "node1" || in.HA == nil || in.HA.FailedOverFrom != "node2" {
			t.Fatalf("%s after the failover: %+v %v", n, in, err)
		}
	}
	fs := master.NewFailbackState()
	now := time.Now()
	if got, err := m.FailbackOnce(ctx(t), fs, now); err != nil || len(got) != 0 {
		t.Fatalf("failback while node2 is dead: %v %v", got, err)
	}

	n2 := &standIn{c: m.Client(), node: "node2", fail: map[string]*api.Error{}}
	for _, k := range []string{keys.CmdInstanceMigratePrepare, keys.CmdInstanceMigrate, keys.CmdDiskDualPrimary, keys.CmdDiskPrimary} {
		n2.failKind(k, &api.Error{Code: api.CodeWrongState, Message: "no migration here"})
	}
	n2.putJSON(ctx(t), t, keys.NodeStatusKey("node2"), keys.NodeStatus{Hypervisor: "workload", HypervisorOK: true,
		Resources:   api.NodeResources{MemoryTotalMiB: 4096, MemoryFreeMiB: 4096, DiskTotalMiB: 10240, DiskFreeMiB: 10240, CPUs: 4},
		PublishedAt: time.Now().UTC(), StartedAt: time.Now().UTC()})
	go n2.run(ctx(t), t)
	e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node1"), connectedDRBD("Primary", "fb", "st"))
	n2.putJSON(ctx(t), t, keys.NodeDRBDKey("node2"), connectedDRBD("Secondary", "fb", "st"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := m.GetInstance(ctx(t), "fb")
		if err == nil && in.Redundancy == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fb not redundant: %+v %v", in, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := m.FailbackOnce(ctx(t), fs, now)
	if err != nil || !slices.Equal(got, []string{"fb"}) {
		in, _ := m.GetInstance(ctx(t), "fb")
		t.Fatalf("failback pass: %v %v; want [fb] (fb: %+v)", got, err, in.HA)
	}
	js, err := m.ListJobs(ctx(t), api.JobFilter{Archived: true})
	if err != nil {
		t.Fatal(err)
	}
	var mig []api.Job
	for _, j := range js {
		if len(j.Ops) == 1 && j.Ops[0].Kind == api.OpInstanceMigrate {
			mig = append(mig, j)
		}
	}
	var p api.InstanceMigrate
	if len(mig) != 1 || json.Unmarshal(mig[0].Ops[0].Params, &p) != nil || p.Name != "fb" || p.TargetNode != "node2" || p.Mode != api.MigrateModeLive {
		t.Fatalf("migrate jobs %+v, want one live migration of fb to node2", mig)
	}
	if j := mastertest.WaitJob(t, m, mig[0].ID, 60*time.Second); j.State == api.JobSuccess {
		t.Fatalf("the failback migration succeeded although node2 refuses it: %+v", j)
	}
	if got, err = m.FailbackOnce(ctx(t), fs, now.Add(time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("pass after the failed failback: %v %v; want nothing", got, err)
	}
	in, err := m.GetInstance(ctx(t), "fb")
	if err != nil || in.HA == nil || !slices.Contains(eventKinds(in), "failback_failed") || len(in.HA.FailCounts) != 1 || in.HA.FailCounts[0].Node != "node2" {
		t.Fatalf("fb after the failed failback: %+v %v", in.HA, err)
	}

	// Issue 9 point 5: node2 came back, but st (failback off) is not made
	// a primary there again by itself, not even in a pass long after fb's
	// retry time, which does try fb (failback on) again.
	later, err := m.FailbackOnce(ctx(t), fs, now.Add(time.Hour))
	if err != nil || !slices.Equal(later, []string{"fb"}) {
		t.Fatalf("pass an hour later: %v %v; want [fb] (retried), st must not be failed back", later, err)
	}
	js, err = m.ListJobs(ctx(t), api.JobFilter{Archived: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		if len(j.Ops) != 1 || j.Ops[0].Kind != api.OpInstanceMigrate {
			continue
		}
		mastertest.WaitJob(t, m, j.ID, 60*time.Second) // fb's retry: node2 refuses it again
		if json.Unmarshal(j.Ops[0].Params, &p) != nil || p.Name == "st" {
			t.Errorf("migrate job %d names st (%+v)", j.ID, p)
		}
	}
	if fj := failoverJobs(t, m)["st"]; len(fj) != 1 {
		t.Errorf("st's instance.failover jobs: %v, want only the one away from the fenced node2", fj)
	}
	in, err = m.GetInstance(ctx(t), "st")
	if err != nil || in.PrimaryNode != "node1" || in.HA == nil || in.HA.FailedOverFrom != "node2" {
		t.Errorf("st at the end: %+v %v; want primary node1, failed over from node2", in, err)
	}
}

// TestFailoverAtThreshold: aw (migration_threshold=1) runs on node1 with
// its secondary on node2 (both stand-ins); its start on node1 fails, which
// counts one failure there and reaches the threshold: the next failback
// pass moves it to node2 with instance.failover (node1 is alive: shut
// down, demoted, node2 promoted and started), and records where it came
// from once the job succeeded.
func TestFailoverAtThreshold(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	aw := haInstance("aw", 1, 128, api.InstanceHA{MigrationThreshold: 1})
	aw.PrimaryNode = "node1"
	aw.Disks[0].DRBD.Nodes = []keys.DRBDNode{aw.Disks[0].DRBD.Nodes[1], aw.Disks[0].DRBD.Nodes[0]}
	e.si.putJSON(ctx(t), t, keys.InstanceKey("aw"), aw)
	n2 := &standIn{c: m.Client(), node: "node2", fail: map[string]*api.Error{}}
	n2.publishStatus(ctx(t), t)
	go n2.run(ctx(t), t)
	e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node1"), connectedDRBD("Secondary", "aw"))
	n2.putJSON(ctx(t), t, keys.NodeDRBDKey("node2"), connectedDRBD("Secondary", "aw"))
	e.si.setDomain(ctx(t), t, "aw", keys.DomainStopped)

	fs := master.NewFailbackState()
	if got, err := m.FailbackOnce(ctx(t), fs, time.Now()); err != nil || len(got) != 0 {
		t.Fatalf("pass before any failure: %v %v", got, err)
	}
	e.si.failKind(keys.CmdInstanceStart, &api.Error{Code: api.CodeWrongState, Message: "qemu: no"})
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceStartup, api.InstanceStartup{Name: "aw"}))
	if j := mastertest.WaitJob(t, m, id, 30*time.Second); j.State == api.JobSuccess {
		t.Fatal("startup with a failing start succeeded")
	}
	e.si.failKind(keys.CmdInstanceStart, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, err := m.GetInstance(ctx(t), "aw")
		if err == nil && in.Redundancy == "ok" && in.HA != nil && len(in.HA.FailCounts) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aw: %+v %v", in, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := m.FailbackOnce(ctx(t), fs, time.Now())
	if err != nil || !slices.Equal(got, []string{"aw"}) {
		t.Fatalf("pass at the threshold: %v %v; want [aw]", got, err)
	}
	ids := failoverJobs(t, m)["aw"]
	if len(ids) != 1 {
		t.Fatalf("failover jobs of aw: %v", ids)
	}
	if j := mastertest.WaitJob(t, m, ids[0], 60*time.Second); j.State != api.JobSuccess {
		t.Fatalf("failover at the threshold: %+v", j.Error)
	}
	if got, err := m.FailbackOnce(ctx(t), fs, time.Now()); err != nil || len(got) != 0 {
		t.Fatalf("pass after the move: %v %v", got, err)
	}
	in, err := m.GetInstance(ctx(t), "aw")
	if err != nil || in.PrimaryNode != "node2" || in.HA.FailedOverFrom != "node1" || eventKinds(in)[len(in.HA.Events)-1] != "failover_done" {
		t.Fatalf("aw after the move: primary %s, HA %+v, %v", in.PrimaryNode, in.HA, err)
	}
}
