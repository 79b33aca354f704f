package allocator

import "math"

// rawMove is one committed move by index, before it is rendered as a Move.
type rawMove struct{ i, p, s int }

// maxPolishSweeps bounds the polishing passes.
const maxPolishSweeps = 4

// polish improves a converged plan without lengthening it. Each instance moved
// once may take, instead of its chosen placement, any other placement one move
// away from where it started, or go back and drop its move, when that lowers
// the final score and the whole plan, replayed from the start with every
// filter, stays valid.
func (b *balancer) polish() {
	st := b.st
	origP, origS := make([]int, len(st.inst)), make([]int, len(st.inst))
	for i, in := range st.c.spec.Instances {
		origP[i] = st.c.nodeIx[in.Primary]
		origS[i] = -1
		if in.Secondary != "" {
			origS[i] = st.c.nodeIx[in.Secondary]
		}
	}
	times := make([]int, len(st.inst))
	for _, m := range b.raw {
		times[m.i]++
	}
	for range maxPolishSweeps {
		improved := b.polishPairs(origP, origS, times)
		for k := 0; k < len(b.raw); k++ {
			m := b.raw[k]
			if times[m.i] != 1 {
				continue
			}
			P0, S0 := origP[m.i], origS[m.i]
			cur := st.score()
			best, bp, bs := cur-b.opt.MinGain, -1, -1
			try := func(p, s int) {
				if p == s || (p == m.p && s == m.s) {
					return
				}
				if sc, ok := st.evalBelow(m.i, p, s, best, true); ok {
					best, bp, bs = sc, p, s
				}
			}
			try(P0, S0)
			try(S0, P0)
			visit := func(n int) {
				if n == P0 || n == S0 {
					return
				}
				try(P0, n)
				try(S0, n)
				try(n, P0)
				try(n, S0)
			}
			if b.targets == nil {
				for n := range st.nn {
					visit(n)
				}
			} else {
				for _, n := range b.targets {
					visit(n)
				}
			}
			if bp < 0 {
				continue
			}
			next := make([]rawMove, 0, len(b.raw))
			next = append(next, b.raw[:k]...)
			if bp != P0 || bs != S0 {
				next = append(next, rawMove{m.i, bp, bs})
			}
			next = append(next, b.raw[k+1:]...)
			if !b.replayOK(next) {
				continue
			}
			st.move(m.i, bp, bs)
			st.recomputeStats()
			if len(next) < len(b.raw) {
				times[m.i] = 0
				k--
			}
			b.raw = next
			improved = true
		}
		if !improved {
			return
		}
	}
}

// replayOK reports whether moves, applied in order to the original snapshot,
// each pass every filter.
func (b *balancer) replayOK(moves []rawMove) bool {
	fresh := newState(b.st.c, b.st.filter)
	for _, m := range moves {
		if fresh.apply(m.i, m.p, m.s) != nil {
			return false
		}
	}
	return true
}

// newNode returns the node a move from (P0, S0) to (p, s) brings in, and
// whether it brings exactly one.
func newNode(P0, S0, p, s int) (int, bool) {
	switch {
	case p != P0 && p != S0 && (s == P0 || s == S0):
		return p, true
	case s != P0 && s != S0 && (p == P0 || p == S0):
		return s, true
	}
	return -1, false
}

// swapNew returns (p, s) with node old replaced by nw.
func swapNew(p, s, old, nw int) (int, int) {
	if p == old {
		return nw, s
	}
	return p, nw
}

// polishPairs tries, for every two instances moved once, exchanging the new
// nodes their moves bring in: the plan keeps its length and move kinds.
func (b *balancer) polishPairs(origP, origS, times []int) bool {
	st := b.st
	improved := false
	for x := 0; x < len(b.raw); x++ {
		for y := x + 1; y < len(b.raw); y++ {
			mi, mj := b.raw[x], b.raw[y]
			if times[mi.i] != 1 || times[mj.i] != 1 {
				continue
			}
			ni, oki := newNode(origP[mi.i], origS[mi.i], mi.p, mi.s)
			nj, okj := newNode(origP[mj.i], origS[mj.i], mj.p, mj.s)
			if !oki || !okj || ni == nj || ni == origP[mj.i] || ni == origS[mj.i] || nj == origP[mi.i] || nj == origS[mi.i] {
				continue
			}
			pi, si := swapNew(mi.p, mi.s, ni, nj)
			pj, sj := swapNew(mj.p, mj.s, nj, ni)
			cur := st.score()
			if !st.pairMayBeat(mi.i, pi, si, mj.i, pj, sj, cur-b.opt.MinGain) {
				continue
			}
			if st.apply(mi.i, pi, si) != nil {
				st.move(mi.i, mi.p, mi.s)
				continue
			}
			rej := st.apply(mj.i, pj, sj)
			sc := st.score()
			st.move(mj.i, mj.p, mj.s)
			st.move(mi.i, mi.p, mi.s)
			if rej != nil || sc >= cur-b.opt.MinGain {
				continue
			}
			next := append([]rawMove(nil), b.raw...)
			next[x] = rawMove{mi.i, pi, si}
			next[y] = rawMove{mj.i, pj, sj}
			if !b.replayOK(next) {
				continue
			}
			st.move(mi.i, pi, si)
			st.move(mj.i, pj, sj)
			st.recomputeStats()
			b.raw = next
			improved = true
		}
	}
	return improved
}

// pairMayBeat reports whether moving instance i to (pi, si) and then j to
// (pj, sj) may score below limit: it moves i for a moment, scores j's move
// without placing it, and puts i and the running sums back exactly as they
// were. A pair it turns down scores at least limit (less a rounding margin),
// so polishPairs skips the filters and the placements of most pairs.
func (st *state) pairMayBeat(i, pi, si, j, pj, sj int, limit float64) bool {
	if !st.deltaOK(i) || !st.deltaOK(j) {
		return true
	}
	op, os := st.ipri[i], st.isec[i]
	sum, sq := st.sum, st.sq
	nodes := [4]int{op, os, pi, si}
	var vals [4][nComp]float64
	for k, n := range nodes {
		if n >= 0 {
			vals[k] = st.vals[n]
		}
	}
	st.move(i, pi, si)
	sc := st.movedScore(j, pj, sj)
	st.unplace(i)
	st.place(i, op, os)
	st.sum, st.sq = sum, sq
	for k, n := range nodes {
		if n >= 0 {
			st.vals[n] = vals[k]
		}
	}
	st.sumsGen++ // the bounds cache must not take the restored sums for the moved ones
	for _, n := range nodes {
		if n >= 0 {
			st.nodeGen[n]++ // nor the scorer's cache the restored loads
		}
	}
	return sc < limit+1e-9*(1+math.Abs(limit))
}
