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
