package allocator_test

import (
	"fmt"
	"testing"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/allocator/internal/htgen"
)

// TestBalancePlainShare: clusters above the exhaustive size (48 nodes:
// shortlisted sources) where a fifth of the instances are plain. Balance used to read the
// missing secondary of a plain instance (index -1) when a move freed a node.
func TestBalancePlainShare(t *testing.T) {
	for _, n := range []int{64, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c, err := htgen.Generate(htgen.Options{Nodes: n, InstPerNode: 4, Seed: 1, PlainShare: 0.2})
			if err != nil {
				t.Fatal(err)
			}
			plain := 0
			for _, in := range c.Instances() {
				if in.Template == allocator.TemplatePlain {
					plain++
				}
			}
			if plain == 0 {
				t.Fatal("the generator made no plain instance")
			}
			plan := c.Balance(allocator.BalanceOptions{})
			if len(plan.Moves) == 0 || plan.FinalScore >= plan.InitialScore {
				t.Fatalf("%d moves, score %v -> %v", len(plan.Moves), plan.InitialScore, plan.FinalScore)
			}
			s := c.Spec()
			for j, m := range plan.Moves {
				if in := findInst(s, m.Instance); in.Template != allocator.TemplateDRBD {
					t.Fatalf("move %d moves %s instance %s", j, in.Template, in.Name)
				}
				if s, err = applyMove(s, m); err != nil {
					t.Fatalf("move %d: %v", j, err)
				}
			}
			if err := checkNoOvercommit(s); err != nil {
				t.Fatal(err)
			}
		})
	}
}
