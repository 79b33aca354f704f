package allocator

import (
	"fmt"
	"math"
)

// DeltaMismatch compares, for every instance and every placement (p, s) of it,
// the delta score (movedScore, and moveScorer for one-move placements) with
// the score of really placing it (placedScore), and the pair scorer for a new
// instance, and fits with the filters; it returns the first placement
// that differs in any bit. Instances the delta path does not take are skipped.
func DeltaMismatch(c *Cluster) error {
	st := newState(c, moveFilters())
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b) }
	var ms *moveScorer
	for i := range st.inst {
		if !st.deltaOK(i) {
			continue
		}
		P, S := st.ipri[i], st.isec[i]
		ms = st.scorer(ms, i)
		for p := -1; p < st.nn; p++ {
			for s := -1; s < st.nn; s++ {
				if p == s || (p < 0 && s >= 0 && P >= 0) {
					continue
				}
				st.unplace(i)
				st.place(i, p, s)
				want := st.placedScore(P, S, p, s)
				st.unplace(i)
				st.place(i, P, S)
				if p >= 0 && st.movesOnly() {
					if fits, rej := st.fits(i, p, s), st.checkMove(i, p, s); fits != (rej == nil) {
						return fmt.Errorf("instance %d (%d,%d) -> (%d,%d): fits %v, filters %v", i, P, S, p, s, fits, rej)
					}
				}
				if got := st.movedScore(i, p, s); !same(got, want) {
					return fmt.Errorf("instance %d (%d,%d) -> (%d,%d): delta %v, placed %v", i, P, S, p, s, got, want)
				}
				if p < 0 || s < 0 {
					continue
				}
				if got := ms.score(p, s, math.Inf(1)); !same(got, want) {
					return fmt.Errorf("instance %d (%d,%d) -> (%d,%d): scorer %v, placed %v", i, P, S, p, s, got, want)
				}
				// bounded by its own score, the scorer must still compute it
				// (the lower bound must not cut it, bound.go), and below it
				// the move must read as above the limit
				if got := ms.score(p, s, want); !same(got, want) {
					return fmt.Errorf("instance %d (%d,%d) -> (%d,%d): scorer bounded at its score %v gives %v", i, P, S, p, s, want, got)
				}
				below := math.Nextafter(want, math.Inf(-1))
				if got := ms.score(p, s, below); !(got > below) {
					return fmt.Errorf("instance %d (%d,%d) -> (%d,%d): scorer bounded below its score %v gives %v", i, P, S, p, s, want, got)
				}
				if ms.boundCuts(p, s, want-0.05*math.Abs(want)-1e-6) {
					boundCuts++
				}
			}
		}
	}
	// a new DRBD instance, as Allocate and Capacity pair its nodes
	for _, mem := range []int64{0, 512, 8192} {
		i := st.addInstance(Instance{Name: "delta-probe", Mem: mem, Disk: 1024, VCPUs: 1, Template: TemplateDRBD,
			RunState: StateRunning, AutoBalance: true, SpindleUse: 1})
		ps := st.pairs(i)
		for p := 0; p < st.nn && ps != nil; p++ {
			for s := 0; s < st.nn; s++ {
				if p == s {
					continue
				}
				st.place(i, p, s)
				want := st.placedScore(-1, -1, p, s)
				st.unplace(i)
				if got := ps.score(p, s, math.Inf(1)); !same(got, want) {
					return fmt.Errorf("new instance of %d MiB on (%d,%d): pair scorer %v, placed %v", mem, p, s, got, want)
				}
			}
		}
		st.dropLastInstance()
	}
	return nil
}

// boundCuts counts the moves DeltaMismatch saw the lower bound skip at 5%
// below their score: the bound must be tight enough to skip some.
var boundCuts int

// BoundCuts returns and resets that count.
func BoundCuts() int { n := boundCuts; boundCuts = 0; return n }

// boundCuts reports whether the scorer's lower bound skips the move (p, s)
// at limit.
func (ms *moveScorer) boundCuts(p, s int, limit float64) bool {
	if kd, n, q := ms.kindOf(p, s); kd >= 0 {
		return ms.boundAbove(kd, n, q, limit)
	}
	return false
}

// KindCutMismatch checks kindCuts against exact scores: for every instance
// the delta path takes and every move kind, bounded at the lowest score of
// that kind's moves towards online nodes, the kind must not be cut. It
// returns how many kinds were cut bounded 2% below that lowest score.
func KindCutMismatch(c *Cluster) (cuts int, err error) {
	st := newState(c, moveFilters())
	var ms *moveScorer
	for i := range st.inst {
		P, S := st.ipri[i], st.isec[i]
		if !st.deltaOK(i) || P < 0 || S < 0 || P == S {
			continue
		}
		ms = st.scorer(ms, i)
		for kd := range nKinds {
			low, any := math.Inf(1), false
			for n := range st.nn {
				if n == P || n == S || st.down(n) {
					continue
				}
				p, s := [nKinds]int{P, S, n, n}[kd], [nKinds]int{n, n, P, S}[kd]
				if k, _, _ := ms.kindOf(p, s); k != kd {
					continue
				}
				low, any = min(low, ms.score(p, s, math.Inf(1))), true
			}
			if !any {
				continue
			}
			if ms.kindCuts(low)&(1<<kd) != 0 {
				return cuts, fmt.Errorf("instance %d (%d,%d): kind %d cut at its lowest score %v", i, P, S, kd, low)
			}
			if ms.kindCuts(low-0.02*math.Abs(low)-1e-6)&(1<<kd) != 0 {
				cuts++
			}
		}
	}
	return cuts, nil
}
