package allocator

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
		improved := false
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
				if sc, rej := st.eval(m.i, p, s); rej == nil && sc < best {
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
