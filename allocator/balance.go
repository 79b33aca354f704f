package allocator

import (
	"cmp"
	"slices"
)

// BalanceOptions tune Balance.
type BalanceOptions struct {
	// MaxMoves caps the plan length; 0 means no cap. Negative means no moves.
	MaxMoves int
	// MinGain is the smallest score gain a move must bring; 0 means 1e-9.
	MinGain float64
	// Shortlist is how many nodes per criterion are taken as move sources and
	// targets on clusters bigger than exhaustiveBalance nodes; 0 means 8.
	Shortlist int
}

// exhaustiveBalance is the node count up to which every move is tried each step.
const exhaustiveBalance = 48

// Balance returns moves that lower the cluster score, greedily: each step
// takes the single move (failover, replace secondary, or their combinations)
// that lowers it most, as hbal does, and every move passes the filters, so N+1
// holds after each step on nodes that held it before.
func (c *Cluster) Balance(opt BalanceOptions) Plan {
	if opt.MinGain <= 0 {
		opt.MinGain = 1e-9
	}
	if opt.Shortlist <= 0 {
		opt.Shortlist = 8
	}
	st := newState(c, moveFilters())
	plan := Plan{InitialScore: st.score()}
	cur := plan.InitialScore
	for opt.MaxMoves == 0 || len(plan.Moves) < opt.MaxMoves {
		if opt.MaxMoves < 0 {
			break
		}
		i, p, s, sc := st.bestMove(opt.Shortlist, st.nn <= exhaustiveBalance)
		if i < 0 || cur-sc < opt.MinGain {
			if st.nn > exhaustiveBalance && st.nn <= 4*exhaustiveBalance {
				// the shortlist found nothing: look at every move once more
				i, p, s, sc = st.bestMove(opt.Shortlist, true)
			}
			if i < 0 || cur-sc < opt.MinGain {
				break
			}
		}
		plan.Moves = append(plan.Moves, st.commit(i, p, s, ""))
		cur = st.score()
	}
	plan.FinalScore = cur
	plan.Cluster = st.snapshot()
	return plan
}

// bestMove returns the instance and placement of the best single move, or i=-1.
func (st *state) bestMove(k int, all bool) (bi, bp, bs int, best float64) {
	bi, bp, bs = -1, -1, -1
	var src, dst []bool
	if !all {
		src, dst = st.shortlists(k)
	}
	try := func(i, p, s int) {
		sc, rej := st.eval(i, p, s)
		if rej == nil && (bi < 0 || sc < best) {
			bi, bp, bs, best = i, p, s, sc
		}
	}
	for i := range st.inst {
		P, S := st.ipri[i], st.isec[i]
		if S < 0 || P < 0 || !st.inst[i].Template.Mirrored() {
			continue
		}
		if src != nil && !src[P] && !src[S] {
			continue
		}
		try(i, S, P)
		for n := range st.nn {
			if n == P || n == S || (dst != nil && !dst[n]) {
				continue
			}
			try(i, P, n)
			try(i, S, n)
			try(i, n, P)
			try(i, n, S)
		}
	}
	return bi, bp, bs, best
}

// shortlists picks the nodes worth moving from (the most loaded by each
// statistic) and to (the least loaded).
func (st *state) shortlists(k int) (src, dst []bool) {
	src, dst = make([]bool, st.nn), make([]bool, st.nn)
	nodes := make([]int, 0, st.nn)
	for n := range st.nn {
		if st.down(n) {
			src[n] = true // instances on offline nodes must be able to leave
			continue
		}
		nodes = append(nodes, n)
	}
	keys := []func(n int) float64{
		func(n int) float64 { return st.vals[n][cLoadPri] },
		func(n int) float64 { return st.vals[n][cLoadDisk] },
		func(n int) float64 { return -st.vals[n][cFreeMem] },
		func(n int) float64 { return -st.vals[n][cFreeDisk] },
		func(n int) float64 { return st.vals[n][cResMem] },
		func(n int) float64 { return st.vals[n][cVCPU] },
		func(n int) float64 { return st.vals[n][sN1] + st.vals[n][sTags] + st.vals[n][sLocation] },
	}
	for _, key := range keys {
		slices.SortStableFunc(nodes, func(a, b int) int { return cmp.Or(cmp.Compare(key(b), key(a)), cmp.Compare(a, b)) })
		for _, n := range nodes[:min(k, len(nodes))] {
			src[n] = true
		}
		for _, n := range nodes[max(0, len(nodes)-k):] {
			dst[n] = true
		}
	}
	return src, dst
}
