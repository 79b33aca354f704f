package allocator_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/allocator/internal/htgen"
)

// clusters returns small skewed clusters from several seeds and shapes.
func clusters(t *testing.T) []*allocator.Cluster {
	t.Helper()
	var out []*allocator.Cluster
	for seed := uint64(1); seed <= 6; seed++ {
		o := htgen.Options{Nodes: 4 + int(seed)*2, InstPerNode: 3 + int(seed%4), Seed: seed,
			NodeMemMiB: 48 * 1024, NodeDiskMiB: 2 * 1024 * 1024}
		c, err := htgen.Generate(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func TestPropertyBalance(t *testing.T) {
	for k, c := range clusters(t) {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			plan := c.Balance(allocator.BalanceOptions{})
			s := c.Spec()
			prev := plan.InitialScore
			for j, m := range plan.Moves {
				before := n1Failing(s)
				var err error
				if s, err = applyMove(s, m); err != nil {
					t.Fatalf("move %d: %v", j, err)
				}
				for n := range n1Failing(s) {
					if !before[n] {
						t.Fatalf("move %d (%s %s): node %s newly fails N+1", j, m.Instance, m.Short(), n)
					}
				}
				if err := checkNoOvercommit(s); err != nil {
					t.Fatalf("move %d: %v", j, err)
				}
				if err := checkPeers(s); err != nil {
					t.Fatalf("move %d: %v", j, err)
				}
				prev = m.Score
			}
			// the polish pass may reorder gains between moves, never the total
			if len(plan.Moves) > 0 && (plan.FinalScore >= plan.InitialScore || prev != plan.FinalScore) {
				t.Fatalf("score %v -> %v (last move %v)", plan.InitialScore, plan.FinalScore, prev)
			}
			if len(plan.Moves) == 0 && plan.InitialScore > 1 {
				t.Fatalf("no moves on a skewed cluster with score %v", plan.InitialScore)
			}
			if got := plan.Cluster.Score(); !near(got, plan.FinalScore) {
				t.Fatalf("final cluster scores %v, plan says %v", got, plan.FinalScore)
			}
			for _, in := range plan.Cluster.Instances() {
				want := findInst(s, in.Name)
				if want.Primary != in.Primary || want.Secondary != in.Secondary {
					t.Fatalf("replayed %s on %s:%s, plan cluster has %s:%s", in.Name, want.Primary, want.Secondary, in.Primary, in.Secondary)
				}
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func findInst(s allocator.Spec, name string) allocator.Instance {
	for _, in := range s.Instances {
		if in.Name == name {
			return in
		}
	}
	return allocator.Instance{}
}

func TestPropertyEvacuate(t *testing.T) {
	for k, c := range clusters(t) {
		node := c.Nodes()[k%len(c.Nodes())].Name
		t.Run(fmt.Sprint(k, node), func(t *testing.T) {
			res, err := c.Evacuate(node)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Unmovable) > 0 {
				t.Fatalf("unmovable: %+v", res.Unmovable)
			}
			s := c.Spec()
			for j, m := range res.Moves {
				if s, err = applyMove(s, m); err != nil {
					t.Fatalf("move %d: %v", j, err)
				}
				if err := checkNoOvercommit(s); err != nil {
					t.Fatalf("move %d: %v", j, err)
				}
				if err := checkPeers(s); err != nil {
					t.Fatalf("move %d: %v", j, err)
				}
			}
			for _, in := range s.Instances {
				if in.Primary == node || in.Secondary == node {
					t.Fatalf("instance %s still on %s", in.Name, node)
				}
			}
			for _, in := range res.Cluster.Instances() {
				if in.Primary == node || in.Secondary == node {
					t.Fatalf("result cluster: instance %s still on %s", in.Name, node)
				}
			}
		})
	}
}

func TestPropertyCapacity(t *testing.T) {
	for k, c := range clusters(t) {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			// start from a balanced cluster with no N+1 failure
			base := c.Balance(allocator.BalanceOptions{}).Cluster
			failing := n1Failing(base.Spec())
			req := allocator.CapacityRequest{Template: allocator.TemplateDRBD, Mem: 2048, Disk: 20480, VCPUs: 1}
			res, err := base.Capacity(req)
			if err != nil {
				t.Fatal(err)
			}
			s := res.Cluster.Spec()
			if got := len(s.Instances) - len(base.Instances()); got != res.Total {
				t.Fatalf("result has %d new instances, Total says %d", got, res.Total)
			}
			if err := checkNoOvercommit(s); err != nil {
				t.Fatal(err)
			}
			if err := checkPeers(s); err != nil {
				t.Fatal(err)
			}
			for n := range n1Failing(s) {
				if !failing[n] {
					t.Fatalf("node %s fails N+1 after capacity", n)
				}
			}
			if res.FailReason == "" {
				t.Fatal("no failure reason")
			}
			_, err = res.Cluster.Allocate(allocator.AllocateRequest{Name: "one-more", Mem: req.Mem, Disk: req.Disk,
				VCPUs: req.VCPUs, Template: req.Template})
			if !errors.Is(err, allocator.ErrNoFit) {
				t.Fatalf("one more instance fits after capacity said %d: %v", res.Total, err)
			}
		})
	}
}

func TestPropertyMultiAllocate(t *testing.T) {
	for k, c := range clusters(t) {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			var reqs []allocator.AllocateRequest
			for j := range 30 {
				reqs = append(reqs, allocator.AllocateRequest{Name: fmt.Sprint("m", j), Mem: 1024 * int64(1+j%4),
					Disk: 10240, VCPUs: 1, Template: allocator.TemplateDRBD})
			}
			res, err := c.MultiAllocate(reqs)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Allocated)+len(res.Failed) != len(reqs) {
				t.Fatalf("%d allocated + %d failed != %d", len(res.Allocated), len(res.Failed), len(reqs))
			}
			s := res.Cluster.Spec()
			if err := checkNoOvercommit(s); err != nil {
				t.Fatal(err)
			}
			if err := checkPeers(s); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	c := clusters(t)[3]
	enc := func() string {
		p := c.Balance(allocator.BalanceOptions{})
		b, _ := json.Marshal(p)
		return string(b)
	}
	if a, b := enc(), enc(); a != b {
		t.Fatal("two balance runs on one snapshot differ")
	}
}
