package allocator

import (
	"cmp"
	"slices"
)

// deepTries is how many instances one trimDeep call tries.
const deepTries = 2

// trimDeep is trim with a look-ahead, for when no whole instance can go back
// within the target on its own: it sends one instance back to where it
// started, polishes the rest of the plan (the other moved instances may then
// take its part), and keeps the result when the final score is at or below
// target; otherwise it restores the plan. It tries the instances whose
// return alone leaves the lowest score, at most deepTries of them. Balance
// uses it from deepBalance to exhaustiveBalance nodes, where hbal takes
// minutes and a polish is cheap against that.
func (b *balancer) trimDeep(target float64, origP, origS []int) bool {
	st := b.st
	cs := b.returnCands(origP, origS)
	slices.SortFunc(cs, func(a, c returnCand) int { return cmp.Or(cmp.Compare(a.score, c.score), cmp.Compare(a.i, c.i)) })
	saveRaw := slices.Clone(b.raw)
	saveP, saveS := slices.Clone(st.ipri), slices.Clone(st.isec)
	for _, c := range cs[:min(len(cs), deepTries)] {
		next := b.without(c.i, -1, rawMove{})
		if !b.replayOK(next) {
			continue
		}
		st.move(c.i, origP[c.i], origS[c.i])
		st.recomputeStats()
		b.raw = next
		b.polish()
		b.compress(origP, origS)
		if st.score() <= target {
			return true
		}
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
