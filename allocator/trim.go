package allocator

import (
	"cmp"
	"slices"
)

// trimShare is the share of what polishing gained over the plain greedy plan
// that trimming may give back to make the plan shorter: the result stays
// well below the greedy score (hbal's way) and is shorter than its plan.
const trimShare = 0.25

// maxTrimRounds bounds the trim / compress / polish rounds.
const maxTrimRounds = 4

// origins returns each instance's placement in the snapshot.
func (st *state) origins() (p, s []int) {
	p, s = make([]int, len(st.inst)), make([]int, len(st.inst))
	for i, in := range st.c.spec.Instances {
		p[i], s[i] = st.c.nodeIx[in.Primary], -1
		if in.Secondary != "" {
			s[i] = st.c.nodeIx[in.Secondary]
		}
	}
	return p, s
}

// moveCounts returns how often each instance moves in the plan.
func (b *balancer) moveCounts() []int {
	times := make([]int, len(b.st.inst))
	for _, m := range b.raw {
		times[m.i]++
	}
	return times
}

// without returns the plan without instance i's moves; when keep >= 0, the
// move at index keep becomes rm instead.
func (b *balancer) without(i, keep int, rm rawMove) []rawMove {
	next := make([]rawMove, 0, len(b.raw))
	for k, m := range b.raw {
		switch {
		case k == keep:
			next = append(next, rm)
		case m.i != i:
			next = append(next, m)
		}
	}
	return next
}

// compress replaces the moves of an instance that moves more than once by a
// single move to where it ends (when one move gets it there) or by none (when
// it ends where it started). The final placement, hence the score, is the
// same; the plan is shorter.
func (b *balancer) compress(origP, origS []int) bool {
	st := b.st
	times := b.moveCounts()
	changed := false
	for k := 0; k < len(b.raw); k++ {
		i := b.raw[k].i
		if times[i] < 2 {
			continue
		}
		p, s := st.ipri[i], st.isec[i]
		first, last := k, -1
		for j := k; j < len(b.raw); j++ {
			if b.raw[j].i == i {
				last = j
			}
		}
		var tries [][]rawMove
		if p == origP[i] && s == origS[i] {
			tries = append(tries, b.without(i, -1, rawMove{}))
		} else if _, one := moveKind(origP[i], origS[i], p, s); one {
			tries = append(tries, b.without(i, last, rawMove{i, p, s}), b.without(i, first, rawMove{i, p, s}))
		}
		for _, next := range tries {
			if b.replayOK(next) {
				b.raw = next
				times[i] = 1
				changed = true
				k = -1 // indices moved: start over
				break
			}
		}
	}
	return changed
}

// returnCand is an instance the plan moves with the final score that
// sending it back to where it started, alone, leaves.
type returnCand struct {
	i     int
	score float64
}

// returnCands lists every instance the plan moves, once, in the order of
// its first move, with the score of its return to origP/origS; those whose
// return is rejected are left out.
func (b *balancer) returnCands(origP, origS []int) []returnCand {
	st := b.st
	var cs []returnCand
	seen := make([]bool, len(st.inst))
	for _, m := range b.raw {
		if seen[m.i] {
			continue
		}
		seen[m.i] = true
		if sc, rej := st.eval(m.i, origP[m.i], origS[m.i]); rej == nil {
			cs = append(cs, returnCand{m.i, sc})
		}
	}
	return cs
}

// trim drops the moves of whole instances, sending them back to where they
// started, as long as the final score stays at or below target: each round
// drops the instance whose return leaves the lowest score.
func (b *balancer) trim(target float64, origP, origS []int) bool {
	st := b.st
	changed := false
	for {
		times := b.moveCounts()
		cs := slices.DeleteFunc(b.returnCands(origP, origS), func(c returnCand) bool { return !(c.score <= target) })
		slices.SortFunc(cs, func(a, c returnCand) int {
			return cmp.Or(cmp.Compare(a.score, c.score), cmp.Compare(times[c.i], times[a.i]), cmp.Compare(a.i, c.i))
		})
		dropped := false
		for _, c := range cs {
			next := b.without(c.i, -1, rawMove{})
			if !b.replayOK(next) {
				continue
			}
			st.move(c.i, origP[c.i], origS[c.i])
			st.recomputeStats()
			b.raw = next
			dropped, changed = true, true
			break
		}
		if !dropped {
			return changed
		}
	}
}

// shorten compresses the polished plan, then trims and polishes it in turns
// down to a target between the polished and the greedy score.
func (b *balancer) shorten(greedy float64) {
	origP, origS := b.st.origins()
	b.compress(origP, origS)
	polished := b.st.score()
	if polished >= greedy {
		return
	}
	target := polished + trimShare*(greedy-polished)
	for range maxTrimRounds {
		t := b.trim(target, origP, origS)
		c := b.compress(origP, origS)
		if !t && !c {
			if !b.deep || !b.trimDeep(target, origP, origS) {
				return
			}
		}
		b.polish()
	}
}
