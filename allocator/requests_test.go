package allocator

import (
	"errors"
	"testing"
)

func fourNodes(t *testing.T, insts ...Instance) *Cluster {
	return mkCluster(t, []Node{tnode("a", 16384, 500000, 8), tnode("b", 16384, 500000, 8),
		tnode("c", 16384, 500000, 8), tnode("d", 16384, 500000, 8)}, insts)
}

func TestAllocate(t *testing.T) {
	// a and b are busy; a new plain instance goes to an idle node, a new DRBD
	// pair to the two idle nodes.
	c := fourNodes(t, tdrbd("x", 8192, 1000, 2, "a", "b"), tdrbd("y", 8192, 1000, 2, "b", "a"))
	res, err := c.Allocate(AllocateRequest{Name: "p", Mem: 1024, Disk: 2048, VCPUs: 1, Template: TemplatePlain})
	if err != nil {
		t.Fatal(err)
	}
	if res.Primary != "c" && res.Primary != "d" || res.Secondary != "" {
		t.Fatalf("plain went to %s/%s", res.Primary, res.Secondary)
	}
	res, err = c.Allocate(AllocateRequest{Name: "q", Mem: 1024, Disk: 2048, VCPUs: 1, Template: TemplateDRBD})
	if err != nil {
		t.Fatal(err)
	}
	pair := map[string]bool{res.Primary: true, res.Secondary: true}
	if !pair["c"] || !pair["d"] {
		t.Fatalf("drbd went to %s/%s", res.Primary, res.Secondary)
	}
	if res.Score >= res.InitialScore {
		t.Fatalf("allocating on idle nodes should lower the score: %v -> %v", res.InitialScore, res.Score)
	}
	if got, _ := res.Cluster.Instance("q"); got.Primary != res.Primary {
		t.Fatalf("result cluster has q on %q", got.Primary)
	}
	if _, ok := c.Instance("q"); ok {
		t.Fatal("the input snapshot changed")
	}
}

func TestAllocateNoFit(t *testing.T) {
	c := fourNodes(t)
	res, err := c.Allocate(AllocateRequest{Name: "big", Mem: 20000, Disk: 2048, VCPUs: 1, Template: TemplateDRBD})
	if !errors.Is(err, ErrNoFit) {
		t.Fatalf("want ErrNoFit, got %v", err)
	}
	if len(res.Rejected) != 4 {
		t.Fatalf("want a reason for each of 4 nodes, got %+v", res.Rejected)
	}
	for _, r := range res.Rejected {
		if r.Filter != "memory" {
			t.Fatalf("node %s rejected by %s, want memory", r.Node, r.Filter)
		}
	}
	_, err = c.Allocate(AllocateRequest{Name: "", Mem: 1, Disk: 1, VCPUs: 1, Template: TemplateDRBD})
	if !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("want ErrInvalidRequest, got %v", err)
	}
}

func TestRelocate(t *testing.T) {
	c := fourNodes(t, tdrbd("x", 8192, 1000, 2, "a", "b"), tdrbd("y", 4096, 1000, 2, "c", "b"))
	plan, err := c.Relocate("x")
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Moves) != 1 {
		t.Fatalf("want one move, got %+v", plan.Moves)
	}
	m := plan.Moves[0]
	if m.Primary != "a" || m.Secondary == "b" || m.Secondary == "a" || m.Kind != MoveReplaceSecondary {
		t.Fatalf("bad relocation %+v", m)
	}
	if _, err := c.Relocate("nope"); !errors.Is(err, ErrUnknownInstance) {
		t.Fatalf("want ErrUnknownInstance, got %v", err)
	}
}

func TestEvacuateUnmovable(t *testing.T) {
	plain := Instance{Name: "p", Mem: 1024, Disk: 100, VCPUs: 1, Template: TemplatePlain, Primary: "a", RunState: StateRunning}
	c := fourNodes(t, plain, tdrbd("x", 1024, 100, 1, "a", "b"))
	res, err := c.Evacuate("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unmovable) != 1 || res.Unmovable[0].Instance != "p" {
		t.Fatalf("want p unmovable, got %+v", res.Unmovable)
	}
	if len(res.Moves) != 1 || res.Moves[0].Primary == "a" || res.Moves[0].Secondary == "a" {
		t.Fatalf("x must leave a: %+v", res.Moves)
	}
	if _, err := c.Evacuate("zz"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("want ErrUnknownNode, got %v", err)
	}
}

func TestCapacityTiered(t *testing.T) {
	c := fourNodes(t)
	res, err := c.Capacity(CapacityRequest{Template: TemplateDRBD, Mem: 6144, Disk: 10240, VCPUs: 1, Tiered: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tiers) < 2 {
		t.Fatalf("want the spec tiered down, got %+v", res.Tiers)
	}
	sum := 0
	for k, tr := range res.Tiers {
		sum += tr.Count
		if k > 0 && tr.Mem >= res.Tiers[k-1].Mem && tr.Disk >= res.Tiers[k-1].Disk && tr.VCPUs >= res.Tiers[k-1].VCPUs {
			t.Fatalf("tier %d did not shrink: %+v", k, res.Tiers)
		}
	}
	if sum != res.Total || len(res.Cluster.Instances()) != res.Total {
		t.Fatalf("tiers sum %d, total %d, cluster has %d", sum, res.Total, len(res.Cluster.Instances()))
	}
}

func TestMoveKinds(t *testing.T) {
	// from (0, 1)
	cases := []struct {
		p, s int
		want MoveKind
		ok   bool
	}{{1, 0, MoveFailover, true}, {0, 2, MoveReplaceSecondary, true}, {1, 2, MoveFailoverReplace, true},
		{2, 0, MoveReplaceFailover, true}, {2, 1, MoveFailReplaceFail, true}, {2, 3, "", false}}
	for _, tc := range cases {
		got, ok := moveKind(0, 1, tc.p, tc.s)
		if got != tc.want || ok != tc.ok {
			t.Errorf("(0,1)->(%d,%d): got %q %v, want %q %v", tc.p, tc.s, got, ok, tc.want, tc.ok)
		}
	}
}
