package ui

import (
	"testing"
	"time"

	"github.com/drover-project/drover/api"
)

func TestOnceCodesSingleUseAndShortLived(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := t0
	now = func() time.Time { return clock }
	defer func() { now = time.Now }()
	o := newOnceCodes(OnceTTL)
	a, exp, err := o.issue("alice")
	if err != nil || !exp.Equal(t0.Add(OnceTTL)) || len(a) < 40 {
		t.Fatalf("issue: %q %v %v", a, exp, err)
	}
	b, _, _ := o.issue("bob")
	if a == b {
		t.Fatal("two codes alike")
	}
	if u, found := o.redeem(a); !found || u != "alice" {
		t.Fatalf("redeem: %q %v", u, found)
	}
	if _, found := o.redeem(a); found {
		t.Fatal("a code redeemed twice")
	}
	if _, found := o.redeem("not-a-code"); found {
		t.Fatal("an unknown code redeemed")
	}
	clock = t0.Add(OnceTTL)
	if _, found := o.redeem(b); found {
		t.Fatal("an expired code redeemed")
	}
	if len(o.codes) != 0 {
		t.Fatalf("codes kept: %d", len(o.codes))
	}
}

func TestRedundancy(t *testing.T) {
	n := func(disk, conn, repl string, pct float64) api.InstanceDRBDNode {
		return api.InstanceDRBDNode{Disk: disk, Connection: conn, Replication: repl, SyncPercent: pct}
	}
	disk := func(nodes ...api.InstanceDRBDNode) api.InstanceDRBDDisk { return api.InstanceDRBDDisk{Nodes: nodes} }
	for _, c := range []struct {
		want  string
		disks []api.InstanceDRBDDisk
	}{
		{"unknown", nil},
		{"ok", []api.InstanceDRBDDisk{disk(n("UpToDate", "Connected", "Established", 0), n("UpToDate", "Connected", "Established", 0))}},
		{"syncing 42%", []api.InstanceDRBDDisk{disk(n("UpToDate", "Connected", "SyncSource", 42), n("Inconsistent", "Connected", "SyncTarget", 42)),
			disk(n("UpToDate", "Connected", "SyncSource", 80))}},
		{"degraded", []api.InstanceDRBDDisk{disk(n("UpToDate", "Connecting", "Off", 0), n("", "", "", 0))}},
		{"unknown", []api.InstanceDRBDDisk{disk(n("UpToDate", "Connected", "Established", 0), n("", "", "", 0))}},
		{"split-brain", []api.InstanceDRBDDisk{disk(api.InstanceDRBDNode{Disk: "UpToDate", SplitBrain: true})}},
	} {
		if got := redundancy(c.disks); got != c.want {
			t.Errorf("redundancy(%+v) = %q, want %q", c.disks, got, c.want)
		}
	}
}

func TestHealth(t *testing.T) {
	v := &View{
		Cluster: &api.ClusterInfo{Leader: "m1", JobsPending: 2, Masters: []api.MasterInfo{{Name: "m1", Healthy: true}, {Name: "m2"}}},
		Nodes:   []api.Node{{Name: "n1", Status: api.NodeOnline}, {Name: "n2", Status: "unreachable"}},
		Instances: []InstanceView{{Instance: api.Instance{Name: "a", Status: api.InstRunning}},
			{Instance: api.Instance{Name: "b", Status: api.InstRunning, DiskTemplate: "drbd"}, Redundancy: "degraded"},
			{Instance: api.Instance{Name: "c", Status: api.InstAdminDown}}},
	}
	h := health(v)
	if h.Level != "error" || h.Masters != 2 || h.MastersHealthy != 1 || h.NodesOnline != 1 || h.Nodes != 2 ||
		h.Instances != 3 || h.InstancesOK != 2 || h.JobsPending != 2 || len(h.Problems) != 3 {
		t.Fatalf("health: %+v", h)
	}
	v.Nodes, v.Instances = v.Nodes[:1], v.Instances[:1]
	if h := health(v); h.Level != "warning" || len(h.Problems) != 1 {
		t.Fatalf("health with a dead etcd member only: %+v", h)
	}
	v.Cluster.Masters = v.Cluster.Masters[:1]
	if h := health(v); h.Level != "ok" || len(h.Problems) != 0 {
		t.Fatalf("healthy: %+v", h)
	}
}

func TestFirstRowsProblemsFirst(t *testing.T) {
	var insts []InstanceView
	for i, st := range []string{api.InstRunning, api.InstErrorDown, api.InstRunning, api.InstErrorNodeDown, api.InstAdminDown} {
		insts = append(insts, InstanceView{Instance: api.Instance{Name: string(rune('a' + i)), Status: st}})
	}
	key := func(in InstanceView) (bool, string) { return instanceBad(in), in.Name }
	got := firstRows(insts, 3, key)
	names := ""
	for _, in := range got {
		names += in.Name
	}
	if names != "bda" {
		t.Fatalf("first 3 rows: %q, want the two in error, then a", names)
	}
	if len(firstRows(insts, 10, key)) != 5 {
		t.Fatal("rows under the limit changed")
	}
}
