package allocator_test

import (
	"strings"
	"testing"

	"github.com/drover-project/drover/allocator"
)

// TestDeltaScoreExact checks on random whole clusters that the delta
// evaluation (the score of a move without placing the instance) gives bit
// for bit the score of a real placement, for every instance and placement.
// Exclusion and location tags are dropped from half of the clusters so that
// the delta path, which skips them, is taken.
func TestDeltaScoreExact(t *testing.T) {
	for seed := range uint64(80) {
		c := randomCluster(t, seed, 14)
		if seed%2 == 0 {
			spec := c.Spec()
			var tags []string
			for _, tag := range spec.Tags {
				if !strings.HasPrefix(tag, "htools:") {
					tags = append(tags, tag)
				}
			}
			spec.Tags = tags
			var err error
			if c, err = allocator.NewCluster(spec); err != nil {
				t.Fatal(err)
			}
		}
		if err := allocator.DeltaMismatch(c); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// TestBoundSkipsSome checks that DeltaMismatch's random clusters exercise
// the scorer's lower bound: bounded 5% below their score, some moves are
// skipped by it (DeltaMismatch checks that none at its own score is).
func TestBoundSkipsSome(t *testing.T) {
	allocator.BoundCuts()
	for seed := range uint64(20) {
		if err := allocator.DeltaMismatch(randomCluster(t, seed, 14)); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	if n := allocator.BoundCuts(); n == 0 {
		t.Fatal("the lower bound skipped no move")
	} else {
		t.Logf("%d moves skipped by the bound", n)
	}
}

// TestKindCutsBelowScore checks on random whole clusters that the bound of
// a whole move kind (kindbound.go) never cuts a kind at the score of its
// best move, and that 2% below it some kinds are cut.
func TestKindCutsBelowScore(t *testing.T) {
	total := 0
	for seed := range uint64(80) {
		c := randomCluster(t, seed, 14)
		if seed%2 == 0 {
			spec := c.Spec()
			var tags []string
			for _, tag := range spec.Tags {
				if !strings.HasPrefix(tag, "htools:") {
					tags = append(tags, tag)
				}
			}
			spec.Tags = tags
			var err error
			if c, err = allocator.NewCluster(spec); err != nil {
				t.Fatal(err)
			}
		}
		n, err := allocator.KindCutMismatch(c)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		total += n
	}
	if total == 0 {
		t.Fatal("no move kind was cut 2% below its best move")
	}
	t.Logf("%d kinds cut 2%% below their best move", total)
}
