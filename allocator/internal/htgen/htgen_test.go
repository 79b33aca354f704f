package htgen

import (
	"testing"

	"github.com/drover-project/drover/allocator"
)

func TestGenerateSkewedAndConsistent(t *testing.T) {
	c, err := Generate(Options{Nodes: 20, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Generate(Options{Nodes: 20, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if c.Score() != again.Score() || len(c.Instances()) != len(again.Instances()) {
		t.Fatal("same seed, different clusters")
	}
	prim := map[string]int{}
	for _, in := range c.Instances() {
		if in.Primary == in.Secondary || in.Secondary == "" {
			t.Fatalf("bad pair for %s", in.Name)
		}
		prim[in.Primary]++
	}
	// 30% hot nodes get 75% of the primaries: the busiest node has well over the mean
	most := 0
	for _, k := range prim {
		most = max(most, k)
	}
	if mean := len(c.Instances()) / 20; most < 2*mean {
		t.Fatalf("not skewed: busiest node has %d primaries, mean %d", most, mean)
	}
	// free memory and disk as generated equal the re-derived ones
	r, err := Rederive(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes() {
		m, _ := r.Node(n.Name)
		if m.FreeMem != n.FreeMem || m.FreeDisk != n.FreeDisk {
			t.Fatalf("node %s: generated %d/%d, re-derived %d/%d", n.Name, n.FreeMem, n.FreeDisk, m.FreeMem, m.FreeDisk)
		}
	}
}

func TestRederiveAfterMove(t *testing.T) {
	c, err := Generate(Options{Nodes: 4, InstPerNode: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := c.Instances()[0]
	var other string
	for _, n := range c.Nodes() {
		if n.Name != in.Primary && n.Name != in.Secondary {
			other = n.Name
		}
	}
	moved, err := Place(c, in.Name, other, in.Secondary)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Rederive(moved)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := c.Node(in.Primary)
	after, _ := r.Node(in.Primary)
	if after.FreeMem != before.FreeMem+in.Mem || after.FreeDisk != before.FreeDisk+in.Disk {
		t.Fatalf("old primary: free %d/%d -> %d/%d after moving %d/%d away", before.FreeMem, before.FreeDisk,
			after.FreeMem, after.FreeDisk, in.Mem, in.Disk)
	}
	if _, err := Add(r, allocator.Instance{Name: in.Name, Mem: 1, Disk: 1, VCPUs: 1, Template: allocator.TemplateDRBD,
		Primary: other, Secondary: in.Secondary, RunState: allocator.StateRunning}); err == nil {
		t.Fatal("adding a duplicate instance name must fail")
	}
}
