package master

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

func drbdRec(name, p, s string, pm, sm int) keys.InstanceRecord {
	return keys.InstanceRecord{Name: name, PrimaryNode: p, DiskTemplate: "drbd", Disks: []keys.DiskSpec{{SizeMiB: 64,
		DRBD: &keys.DRBDDisk{Resource: name + "-d0", Port: 11000, Secret: "s", Nodes: []keys.DRBDNode{
			{Node: p, IP: "10.0.0.1", Minor: pm, NodeID: 0}, {Node: s, IP: "10.0.0.2", Minor: sm, NodeID: 1}}}}}}
}

func TestPlanNewSecondary(t *testing.T) {
	a := drbdRec("a", "n1", "n2", 0, 0)
	b := drbdRec("b", "n3", "n1", 0, 1) // takes minor 0 on n3
	out, changed, err := planNewSecondary([]keys.InstanceRecord{a, b}, a, "n3", "10.0.0.3")
	if err != nil || !changed {
		t.Fatalf("plan: %v %v", changed, err)
	}
	dd := out.Disks[0].DRBD
	if dd.Nodes[0].Node != "n1" || dd.Nodes[1] != (keys.DRBDNode{Node: "n3", IP: "10.0.0.3", Minor: 1, NodeID: 2}) {
		t.Errorf("new peers %+v (want n3 with minor 1, node-id 2)", dd.Nodes)
	}
	if len(dd.Leaving) != 1 || dd.Leaving[0].Node != "n2" {
		t.Errorf("leaving %+v", dd.Leaving)
	}
	if a.Disks[0].DRBD.Nodes[1].Node != "n2" {
		t.Error("the input record was changed")
	}
	// A re-run finds the record planned: nothing changes.
	if again, changed, err := planNewSecondary([]keys.InstanceRecord{out, b}, out, "n3", "10.0.0.3"); err != nil || changed || again.Disks[0].DRBD.Nodes[1].Minor != 1 {
		t.Errorf("re-run: changed %v, %v", changed, err)
	}
	// The leaving peer's minor stays taken until the replace ends.
	if u := usageOf([]keys.InstanceRecord{out}); !u.minors["n2"][0] {
		t.Error("the leaving secondary's minor is free while it holds a copy")
	}
	// The next replace, after Leaving was cleared, reuses node-id 1.
	out.Disks[0].DRBD.Leaving = nil
	next, _, err := planNewSecondary([]keys.InstanceRecord{out, b}, out, "n4", "10.0.0.4")
	if err != nil || next.Disks[0].DRBD.Nodes[1].NodeID != 1 {
		t.Errorf("second replace: %+v %v", next.Disks[0].DRBD.Nodes, err)
	}
	for what, c := range map[string]struct {
		rec  keys.InstanceRecord
		node string
		ip   string
		code api.Code
	}{
		"primary":     {a, "n1", "10.0.0.1", api.CodeWrongInput},
		"no ip":       {a, "n3", "", api.CodeWrongState},
		"plain":       {keys.InstanceRecord{Name: "p", DiskTemplate: "plain"}, "n3", "10.0.0.3", api.CodeWrongState},
		"in progress": {func() keys.InstanceRecord { r, _, _ := planNewSecondary(nil, a, "n3", "10.0.0.3"); return r }(), "n4", "10.0.0.4", api.CodeWrongState},
	} {
		if _, _, err := planNewSecondary(nil, c.rec, c.node, c.ip); api.AsError(err).Code != c.code {
			t.Errorf("%s: %v, want %s", what, err, c.code)
		}
	}
}

func TestReplacePhases(t *testing.T) {
	a := drbdRec("a", "n1", "n2", 0, 0)
	out, _, _ := planNewSecondary(nil, a, "n3", "10.0.0.3")
	names := func(r keys.InstanceRecord) string {
		var s []string
		for _, n := range r.Disks[0].DRBD.Nodes {
			s = append(s, n.Node)
		}
		if len(r.Disks[0].DRBD.Leaving) > 0 {
			s = append(s, "leaving")
		}
		return strings.Join(s, ",")
	}
	for what, got := range map[string]string{"all": names(replPhase(out, allPeers)), "new": names(replPhase(out, newPeers)), "old": names(replPhase(out, oldPeers))} {
		want := map[string]string{"all": "n1,n3,n2", "new": "n1,n3", "old": "n1,n2"}[what]
		if got != want {
			t.Errorf("%s peers %s, want %s", what, got, want)
		}
	}
	nodes, ids := leavingOf(out)
	if len(nodes) != 1 || nodes[0] != "n2" || len(ids[0]) != 1 || ids[0][0] != 1 {
		t.Errorf("leaving %v %v", nodes, ids)
	}
}

func TestCheckDisk(t *testing.T) {
	rec := drbdRec("a", "n1", "n2", 0, 1)
	state := func(res keys.DRBDResource) *keys.DRBDState {
		return &keys.DRBDState{Resources: []keys.DRBDResource{res}}
	}
	ok := keys.DRBDPeer{Name: "n2", Connection: "Connected", PeerDisk: "UpToDate", Replication: "Established"}
	cases := []struct {
		what    string
		node    string
		st      *keys.DRBDState
		verdict diskVerdict
		remedy  string
	}{
		{"healthy", "n1", state(keys.DRBDResource{Name: "a-d0", Disk: "UpToDate", Peers: []keys.DRBDPeer{ok}}), diskHealthy, ""},
		{"unreachable secondary", "n2", nil, diskProblem, "replace-disks a -n"},
		{"unreachable primary", "n1", nil, diskProblem, "failover a"},
		{"not up", "n2", state(keys.DRBDResource{Name: "other"}), diskReconnect, ""},
		{"standalone", "n1", state(keys.DRBDResource{Name: "a-d0", Disk: "UpToDate", Peers: []keys.DRBDPeer{{Name: "n2", Connection: "StandAlone"}}}), diskReconnect, ""},
		{"no connection", "n1", state(keys.DRBDResource{Name: "a-d0", Disk: "UpToDate"}), diskReconnect, ""},
		{"split brain", "n1", state(keys.DRBDResource{Name: "a-d0", Disk: "UpToDate", SplitBrain: true}), diskProblem, "recover-split-brain a --discard n2"},
		{"diskless", "n2", state(keys.DRBDResource{Name: "a-d0", Disk: "Diskless"}), diskProblem, "replace-disks a -a"},
		{"peer down", "n1", state(keys.DRBDResource{Name: "a-d0", Disk: "UpToDate", Peers: []keys.DRBDPeer{{Name: "n2", Connection: "Connecting"}}}), diskProblem, ""},
		{"resync", "n1", state(keys.DRBDResource{Name: "a-d0", Disk: "UpToDate", Peers: []keys.DRBDPeer{{Name: "n2", Connection: "Connected", PeerDisk: "Inconsistent", Replication: "SyncSource", SyncPercent: 40}}}), diskSyncing, ""},
		{"8.4 peer name", "n2", state(keys.DRBDResource{Name: "a-d0", Disk: "UpToDate", Peers: []keys.DRBDPeer{{Name: "peer", Connection: "Connected", PeerDisk: "UpToDate"}}}), diskHealthy, ""},
	}
	for _, c := range cases {
		v, p := checkDisk(rec, 0, c.node, c.st)
		if v != c.verdict || !strings.Contains(p.Remedy, c.remedy) || (c.verdict != diskHealthy && p.What == "") {
			t.Errorf("%s: verdict %d %+v, want %d with remedy %q", c.what, v, p, c.verdict, c.remedy)
		}
	}
	moving, _, _ := planNewSecondary(nil, rec, "n3", "10.0.0.3")
	if v, p := checkDisk(moving, 0, "n1", state(keys.DRBDResource{Name: "a-d0", Disk: "UpToDate"})); v != diskProblem || !strings.Contains(p.Remedy, "-n n3") {
		t.Errorf("a replace in progress is not adjusted: %d %+v", v, p)
	}
}

func TestPlanInParams(t *testing.T) {
	op := api.MustOp(api.OpNodeEvacuate, api.NodeEvacuate{Name: "n1", NodeEvacuateOptions: api.NodeEvacuateOptions{Mode: api.EvacuateSecondaryOnly}})
	if isPlannedOp(op.Params) {
		t.Fatal("a submitted opcode counts as planned")
	}
	plan := api.MovesResult{Moves: []api.MoveReport{{Instance: "a", Kind: "r", Short: "r:n3", Primary: "n2", Secondary: "n3"}}}
	head, err := withPlan(op, plan)
	if err != nil || !isPlannedOp(head.Params) {
		t.Fatalf("withPlan: %v", err)
	}
	p, got, err := splitPlan[api.NodeEvacuate](head.Params)
	if err != nil || p.Name != "n1" || p.Mode != api.EvacuateSecondaryOnly || got == nil || got.Moves[0].Short != "r:n3" {
		t.Errorf("splitPlan: %+v %+v %v", p, got, err)
	}
	if _, _, err := splitPlan[api.NodeEvacuate](json.RawMessage(`{"name":"n1","bogus":1}`)); api.AsError(err).Code != api.CodeWrongInput {
		t.Errorf("unknown field: %v", err)
	}
}
