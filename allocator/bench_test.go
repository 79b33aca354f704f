package allocator_test

import (
	"testing"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/allocator/internal/htgen"
)

func genCluster(b testing.TB, nodes int) *allocator.Cluster {
	b.Helper()
	c, err := htgen.Generate(htgen.Options{Nodes: nodes, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkBalance20 is the 20-node, ~200-instance skewed cluster on which hbal
// took 57 s; the goal is at least 100x faster (under 0.57 s per op).
func BenchmarkBalance20(b *testing.B) {
	c := genCluster(b, 20)
	for b.Loop() {
		c.Balance(allocator.BalanceOptions{})
	}
}

func BenchmarkBalance100(b *testing.B) {
	c := genCluster(b, 100)
	for b.Loop() {
		c.Balance(allocator.BalanceOptions{})
	}
}

func BenchmarkAllocateDRBD400(b *testing.B) {
	c := genCluster(b, 400)
	for b.Loop() {
		if _, err := c.Allocate(allocator.AllocateRequest{Name: "x", Mem: 4096, Disk: 51200, VCPUs: 2, Template: allocator.TemplateDRBD}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCapacity100(b *testing.B) {
	c := genCluster(b, 100)
	for b.Loop() {
		if _, err := c.Capacity(allocator.CapacityRequest{Template: allocator.TemplateDRBD, Mem: 8192, Disk: 102400, VCPUs: 4}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBalance1000: 1,000 nodes and ~10,000 instances; the goal is under
// 3 s for the whole drover process.
func BenchmarkBalance1000(b *testing.B) {
	c := genCluster(b, 1000)
	for b.Loop() {
		c.Balance(allocator.BalanceOptions{})
	}
}

// BenchmarkBalance10: the 10-node bench file, where hbal takes 2.5-3.8 s of
// CPU; 100x needs the whole drover process under about 25-35 ms.
func BenchmarkBalance10(b *testing.B) {
	c := genCluster(b, 10)
	for b.Loop() {
		c.Balance(allocator.BalanceOptions{})
	}
}
