package master_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// TestReprotectDeadSecondary: m1's secondary node2 is recorded offline
// (fenced, failed over) and publishes nothing. Before the threshold the
// reprotect controller does nothing; after it, it submits one
// instance.replace-disks in mode new-secondary whose new secondary is the
// allocator's pick, node3 (node1 is the primary; node4 has no DRBD module).
// A stopped instance is reprotected too; one whose secondary lives is not.
// instance list shows the redundancy: degraded for m1, ok for m5.
func TestReprotectDeadSecondary(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	for _, n := range []string{"node3", "node4"} {
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: n}))
		if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
			t.Fatalf("node add %s: %+v", n, j.Error)
		}
	}
	status := func(node, drbd string) keys.NodeStatus {
		return keys.NodeStatus{Hypervisor: "fake", HypervisorOK: true,
			Resources:   api.NodeResources{MemoryTotalMiB: 4096, MemoryFreeMiB: 4096, DiskTotalMiB: 10240, DiskFreeMiB: 10240, CPUs: 4},
			Storage:     &keys.NodeStorage{DRBDVersion: drbd, VG: "drover", VGSizeMiB: 10240, VGFreeMiB: 10240},
			PublishedAt: time.Now().UTC(), StartedAt: time.Now().UTC()}
	}
	e.si.putJSON(ctx(t), t, keys.NodeStatusKey("node1"), status("node1", "8.4.11"))
	e.si.putJSON(ctx(t), t, keys.NodeStatusKey("node3"), status("node3", "8.4.11"))
	e.si.putJSON(ctx(t), t, keys.NodeStatusKey("node4"), status("node4", ""))
	drbd := func(name, sec string, up bool) keys.InstanceRecord {
		return keys.InstanceRecord{Name: name, UUID: "6b0c3f36-8d7e-4d53-9a55-0f1f6f3a9e1" + name[len(name)-1:], PrimaryNode: "node1", OS: "tiny", OSVersion: 1,
			Hypervisor: "fake", DiskTemplate: "drbd", VCPUs: 1, MemoryMiB: 128, AdminUp: up,
			Disks: []keys.DiskSpec{{SizeMiB: 64, DRBD: &keys.DRBDDisk{Resource: name + "-d0", Port: 11000 + int(name[len(name)-1]-'0'), Secret: "c2VjcmV0",
				Nodes: []keys.DRBDNode{{Node: "node1", IP: "198.18.0.1", Minor: 0}, {Node: sec, IP: "198.18.0.2", Minor: 0, NodeID: 1}}}}}}
	}
	e.si.putJSON(ctx(t), t, keys.InstanceKey("m1"), drbd("m1", "node2", true))
	e.si.putJSON(ctx(t), t, keys.InstanceKey("s2"), drbd("s2", "node2", false))
	e.si.putJSON(ctx(t), t, keys.InstanceKey("m5"), drbd("m5", "node3", true))
	peer := []keys.DRBDPeer{{Name: "peer", Connection: "Connected", Role: "Secondary", Replication: "Established", PeerDisk: "UpToDate", SyncPercent: 100}}
	e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node1"), keys.DRBDState{Version: "8.4.11", ObservedAt: time.Now().UTC(),
		Resources: []keys.DRBDResource{{Name: "m1-d0", Role: "Primary", Disk: "UpToDate"}, {Name: "m5-d0", Role: "Primary", Disk: "UpToDate", Peers: peer}}})
	e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node3"), keys.DRBDState{Version: "8.4.11", ObservedAt: time.Now().UTC(),
		Resources: []keys.DRBDResource{{Name: "m5-d0", Role: "Secondary", Disk: "UpToDate",
			Peers: []keys.DRBDPeer{{Name: "peer", Connection: "Connected", Role: "Primary", Replication: "Established", PeerDisk: "UpToDate", SyncPercent: 100}}}}})
	lost := time.Now().Add(-10 * time.Minute).UTC()
	e.si.putJSON(ctx(t), t, keys.NodeHealthKey("node2"), keys.NodeHealthRecord{NodeHealth: api.NodeHealth{State: api.NodeOffline, Method: "stonith",
		Since: lost}, LeaseLostAt: lost})

	if got := m.ReprotectOnce(ctx(t), time.Hour); len(got) != 0 {
		t.Fatalf("before the threshold: submitted for %v", got)
	}
	got := m.ReprotectOnce(ctx(t), 5*time.Minute)
	slices.Sort(got)
	if !slices.Equal(got, []string{"m1", "s2"}) {
		t.Fatalf("after the threshold: submitted for %v, want m1 and s2", got)
	}
	r, err := m.Client().Get(ctx(t), keys.JobsPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]string{}
	for _, kv := range r.Kvs {
		var j api.Job
		if json.Unmarshal(kv.Value, &j) != nil {
			continue
		}
		for _, op := range j.Ops {
			var p api.InstanceReplaceDisks
			if op.Kind == api.OpInstanceReplaceDisks && json.Unmarshal(op.Params, &p) == nil {
				if p.Mode != api.ReplaceNewSecondary || targets[p.Name] != "" {
					t.Errorf("replace-disks of %s: %+v (an earlier one to %q)", p.Name, p, targets[p.Name])
				}
				targets[p.Name] = p.NewSecondary
			}
		}
	}
	if targets["m1"] != "node3" || targets["s2"] != "node3" || len(targets) != 2 {
		t.Fatalf("new secondaries %v, want node3 for m1 and s2 (node4 has no DRBD module)", targets)
	}

	insts, err := m.ListInstances(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	red := map[string]string{}
	for _, in := range insts {
		red[in.Name] = in.Redundancy
	}
	if red["m1"] != "degraded" || red["m5"] != "ok" {
		t.Fatalf("redundancy %v, want m1 degraded (its secondary is dead), m5 ok", red)
	}
}
