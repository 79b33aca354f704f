package master_test

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// TestDRBDOutdatedSecondaryRefused: a primary that publishes a resource as
// Primary and not connected to its secondary gets that secondary's copy
// recorded outdated (DRBD 8.4 keeps calling a disconnected secondary
// UpToDate); the record goes when the primary sees it connected and
// UpToDate again. A failover onto a copy recorded outdated is refused (the
// instance stays on its fenced primary, nothing is promoted); without the
// record the same failover moves it.
func TestDRBDOutdatedSecondaryRefused(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	rec := func(name, primary, secondary string) keys.InstanceRecord {
		return keys.InstanceRecord{Name: name, UUID: "7c1d2e3f-8d7e-4d53-9a55-0f1f6f3a9e1" + name[len(name)-1:], PrimaryNode: primary, OS: "tiny", OSVersion: 1,
			Hypervisor: "fake", DiskTemplate: "drbd", VCPUs: 1, MemoryMiB: 128, AdminUp: true,
			Disks: []keys.DiskSpec{{SizeMiB: 64, DRBD: &keys.DRBDDisk{Resource: name + "-d0", Port: 11100 + int(name[len(name)-1]-'0'), Secret: "c2VjcmV0",
				Nodes: []keys.DRBDNode{{Node: primary, IP: "198.18.0.2", Minor: 0}, {Node: secondary, IP: "198.18.0.1", Minor: 0, NodeID: 1}}}}}}
	}
	o1, o2 := rec("o1", "node1", "node2"), rec("o2", "node2", "node1")
	e.si.putJSON(ctx(t), t, keys.InstanceKey("o1"), o1)
	e.si.putJSON(ctx(t), t, keys.InstanceKey("o2"), o2)
	publish := func(o1Peer keys.DRBDPeer) {
		e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node1"), keys.DRBDState{Version: "8.4.11", ObservedAt: time.Now().UTC(),
			Resources: []keys.DRBDResource{
				{Name: "o1-d0", Role: "Primary", Disk: "UpToDate", Peers: []keys.DRBDPeer{o1Peer}},
				{Name: "o2-d0", Role: "Secondary", Disk: "UpToDate", Peers: []keys.DRBDPeer{{Name: "peer", Connection: "Connecting", PeerDisk: "DUnknown"}}}}})
	}
	marker := func(r keys.InstanceRecord, node string) *keys.DRBDOutdatedRecord {
		resp, err := m.Client().Get(ctx(t), keys.DRBDOutdatedKey(r.UUID, node))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		var od keys.DRBDOutdatedRecord
		if err := json.Unmarshal(resp.Kvs[0].Value, &od); err != nil {
			t.Fatal(err)
		}
		return &od
	}

	// node1 writes o1 without node2: node2's copy is recorded outdated.
	publish(keys.DRBDPeer{Name: "peer", Connection: "Connecting", PeerDisk: "DUnknown"})
	if err := m.DRBDOutdateOnce(ctx(t)); err != nil {
		t.Fatal(err)
	}
	od := marker(o1, "node2")
	if od == nil || od.Primary != "node1" || !slices.Contains(od.Resources, "o1-d0 Connecting") {
		t.Fatalf("o1's copy on node2 after the primary lost it: %+v, want recorded outdated by node1 (o1-d0 Connecting)", od)
	}
	// Connected again but still syncing: kept.
	publish(keys.DRBDPeer{Name: "peer", Connection: "Connected", Replication: "SyncSource", PeerDisk: "Inconsistent", SyncPercent: 40})
	if err := m.DRBDOutdateOnce(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if marker(o1, "node2") == nil {
		t.Fatal("o1's outdated record went while node2 was still syncing")
	}
	// Resynced: the record goes.
	publish(keys.DRBDPeer{Name: "peer", Connection: "Connected", Replication: "Established", PeerDisk: "UpToDate", SyncPercent: 100})
	if err := m.DRBDOutdateOnce(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if od := marker(o1, "node2"); od != nil {
		t.Fatalf("o1's copy on node2 still recorded outdated after the resync: %+v", od)
	}

	// o2's primary node2 was seen writing without node1 (the record as the
	// controller writes it while node2 published), then node2 died and was
	// fenced: the failover onto node1's copy is refused.
	b, _ := json.Marshal(keys.DRBDOutdatedRecord{Instance: "o2", Node: "node1", Primary: "node2", Resources: []string{"o2-d0 Connecting"}, Since: time.Now().UTC()})
	if _, err := m.Client().Put(ctx(t), keys.DRBDOutdatedKey(o2.UUID, "node1"), string(b)); err != nil {
		t.Fatal(err)
	}
	e.si.putJSON(ctx(t), t, keys.NodeHealthKey("node2"), keys.NodeHealthRecord{NodeHealth: api.NodeHealth{State: api.NodeFenced, Method: "stonith", Since: time.Now().UTC()}})
	log := slog.New(slog.DiscardHandler)
	err := m.FailoverNode(ctx(t), "node2", log)
	if got := primaryOf(t, e, "o2"); got != "node2" {
		t.Fatalf("o2 failed over onto a copy recorded outdated: primary %s (failover step: %v)", got, err)
	}
	if slices.Contains(e.si.kinds(), keys.CmdDiskPrimary) {
		t.Fatalf("node1 was asked to promote o2's outdated copy: %v", e.si.kinds())
	}
	if err == nil {
		t.Error("the failover step reported no failure although o2 stayed on its fenced primary")
	}
	var ha keys.InstanceHARecord
	if r, gerr := m.Client().Get(ctx(t), keys.InstanceHAKey(o2.UUID)); gerr != nil || len(r.Kvs) != 1 || json.Unmarshal(r.Kvs[0].Value, &ha) != nil {
		t.Fatalf("o2's HA record: %v", gerr)
	}
	if i := slices.IndexFunc(ha.Events, func(ev api.InstanceHAEvent) bool { return strings.Contains(ev.Message, "may be stale") }); i < 0 {
		t.Errorf("o2's HA events do not say why it was not failed over (\"may be stale\"): %+v", ha.Events)
	}

	// Without the record the same failover moves o2.
	if _, err := m.Client().Delete(ctx(t), keys.DRBDOutdatedKey(o2.UUID, "node1")); err != nil {
		t.Fatal(err)
	}
	if err := m.FailoverNode(ctx(t), "node2", log); err != nil {
		t.Fatalf("failover step without the record: %v", err)
	}
	if got := primaryOf(t, e, "o2"); got != "node1" {
		t.Fatalf("o2 after the failover without an outdated record: primary %s, want node1", got)
	}
}

func primaryOf(t *testing.T, e *instEnv, name string) string {
	t.Helper()
	r, err := e.m.Client().Get(ctx(t), keys.InstanceKey(name))
	if err != nil || len(r.Kvs) != 1 {
		t.Fatalf("read %s: %v", name, err)
	}
	var got keys.InstanceRecord
	if err := json.Unmarshal(r.Kvs[0].Value, &got); err != nil {
		t.Fatal(err)
	}
	return got.PrimaryNode
}
