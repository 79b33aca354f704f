package allocator

import (
	"cmp"
	"os"
	"slices"
	"strconv"
)

// deepTries is how many instances trimDeep tries per call.
const deepTries = 2

// trimDeep drops the moves of one whole instance and re-polishes the rest of
// the plan, keeping the result when the final score is at or below target.
// It tries the instances whose return alone costs least, at most deepTries.
func (b *balancer) trimDeep(target float64, origP, origS []int) bool {
	st := b.st
	tries := deepTries
	if v, err := strconv.Atoi(os.Getenv("DRV_DEEP")); err == nil {
		tries = v
	}
	type cand struct {
		i     int
		score float64
	}
	var cs []cand
	seen := make([]bool, len(st.inst))
	for _, m := range b.raw {
		if seen[m.i] {
			continue
		}
		seen[m.i] = true
		if sc, rej := st.eval(m.i, origP[m.i], origS[m.i]); rej == nil {
			cs = append(cs, cand{m.i, sc})
		}
	}
	slices.SortFunc(cs, func(a, c cand) int { return cmp.Or(cmp.Compare(a.score, c.score), cmp.Compare(a.i, c.i)) })
	saveRaw := slices.Clone(b.raw)
	saveP, saveS := slices.Clone(st.ipri), slices.Clone(st.isec)
	for k, c := range cs {
		if k >= tries {
			break
		}
		next := b.without(c.i, -1, rawMove{})
		if !b.replayOK(next) {
			continue
		}
		st.move(c.i, origP[c.i], origS[c.i])
		st.recomputeStats()
		b.raw = next
		b.polish()
		b.compress(origP, origS)
		if os.Getenv("DRV_DEBUG") != "" {
			println("deep", k, c.i, c.score, st.score(), target, len(b.raw))
		}
		if st.score() <= target {
			return true
		}
		// undo
		b.raw = slices.Clone(saveRaw)
		for i := range st.inst {
			if st.ipri[i] != saveP[i] || st.isec[i] != saveS[i] {
				st.move(i, saveP[i], saveS[i])
			}
		}
		st.recomputeStats()
	}
	return false
}
