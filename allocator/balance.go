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
	// targets on clusters bigger than exhaustiveBalance nodes; 0 means 8, or 4
	// above 96 nodes.
	Shortlist int
}

// exhaustiveBalance is the node count up to which every move is tried each step.
const exhaustiveBalance = 48

// Balance returns moves that lower the cluster score, greedily: each step
// takes the single move (failover, replace secondary, or their combinations)
// that lowers it most, as hbal does, and every move passes the filters, so N+1
// holds after each step on nodes that held it before. To stay fast it keeps
// each instance's best move between steps and re-evaluates only what a step
// changed (a lazy greedy); when that finds nothing, an exhaustive pass checks
// that no single improving move is left.
func (c *Cluster) Balance(opt BalanceOptions) Plan {
	if opt.MinGain <= 0 {
		opt.MinGain = 1e-9
	}
	st := newState(c, moveFilters())
	if opt.Shortlist <= 0 {
		opt.Shortlist = 8
		if st.nn > 2*exhaustiveBalance {
			opt.Shortlist = 4
		}
	}
	plan := Plan{InitialScore: st.score()}
	b := balancer{st: st, opt: opt}
	b.plan = &plan
	b.run()
	if st.nn <= 4*exhaustiveBalance {
		b.polish()
	}
	// render the plan by replaying it: kinds, origins and the score after each
	fresh := newState(c, moveFilters())
	plan.Moves = plan.Moves[:0]
	for _, m := range b.raw {
		plan.Moves = append(plan.Moves, fresh.commit(m.i, m.p, m.s, ""))
	}
	plan.FinalScore = fresh.score()
	plan.Cluster = fresh.snapshot()
	return plan
}

// candidate is an instance's best known move and the score after it.
type candidate struct {
	p, s  int
	score float64
	base  float64 // cluster score when it was computed
	ok    bool
	step  int // step at which it was computed
}

func (c candidate) gain() float64 { return c.base - c.score }

type balancer struct {
	st      *state
	opt     BalanceOptions
	plan    *Plan
	best    []candidate
	targets []int // nodes worth moving to this step (nil: all)
	step    int
	passes  int
	src     []bool // nodes worth moving from (nil: all)
	raw     []rawMove
}

// fullDirty: on small clusters, re-evaluate instances on every touched node.
var fullDirty = true

// maxExhaustivePasses bounds the exhaustive checks after the lazy search.
const maxExhaustivePasses = 3

func (b *balancer) full() bool { return b.st.nn <= exhaustiveBalance }

func (b *balancer) done() bool {
	return b.opt.MaxMoves < 0 || (b.opt.MaxMoves > 0 && len(b.plan.Moves) >= b.opt.MaxMoves)
}

func (b *balancer) run() {
	st := b.st
	for !b.done() {
		b.refreshTargets()
		b.best = make([]candidate, len(st.inst))
		for i := range st.inst {
			b.best[i] = b.evalInstance(i, b.targets)
		}
		for !b.done() && b.lazyStep() {
		}
		if b.done() {
			return
		}
		// nothing left by the lazy search: one exhaustive pass to be sure
		b.passes++
		if st.nn > 4*exhaustiveBalance || b.passes > maxExhaustivePasses {
			return
		}
		i, p, s, sc := st.bestMove(0, true)
		if i < 0 || st.score()-sc < b.opt.MinGain {
			return
		}
		b.commit(i, p, s)
	}
}

// lazyStep commits the best move and reports whether there was one.
func (b *balancer) lazyStep() bool {
	st := b.st
	cur := st.score()
	b.step++
	for {
		bi := -1
		for i, c := range b.best {
			if c.ok && (bi < 0 || c.gain() > b.best[bi].gain()) {
				bi = i
			}
		}
		if bi < 0 || b.best[bi].gain() < b.opt.MinGain {
			return false
		}
		c := b.best[bi]
		if c.step == b.step && c.base == cur {
			b.commit(bi, c.p, c.s)
			return true
		}
		fresh := b.evalInstance(bi, b.targets)
		fresh.step = b.step
		b.best[bi] = fresh
	}
}

func (b *balancer) commit(i, p, s int) {
	st := b.st
	op, os := st.ipri[i], st.isec[i]
	b.plan.Moves = append(b.plan.Moves, st.commit(i, p, s, ""))
	b.raw = append(b.raw, rawMove{i, p, s})
	if b.best == nil {
		return
	}
	// Instances on the nodes that gained load may now gain more by leaving:
	// re-evaluate them. Instances on nodes that lost load gain less now; their
	// stale, optimistic candidates are re-checked by lazyStep when they surface.
	gained := []int{p, s}
	if b.full() && fullDirty {
		gained = []int{op, os, p, s}
	}
	var freed []int // nodes that lost load: better targets now
	for _, n := range []int{op, os} {
		if n >= 0 && n != p && n != s {
			freed = append(freed, n)
		}
	}
	var src []bool
	if len(b.plan.Moves)%8 == 0 || b.targets == nil {
		src = b.refreshTargets()
		b.src = src
	} else {
		src = b.src
	}
	for j := range st.inst {
		if !st.movable(j) {
			continue // plain, file, diskless...: balance never moves them
		}
		c := b.best[j]
		if slices.Contains(gained, st.ipri[j]) || slices.Contains(gained, st.isec[j]) {
			b.best[j] = b.evalInstance(j, b.targets)
			continue
		}
		// moves towards the touched nodes may have become better; a stale
		// best move is re-evaluated by lazyStep before it is taken
		if len(freed) == 0 || (src != nil && !src[st.ipri[j]] && !src[st.isec[j]]) {
			continue
		}
		if t := b.evalTowards(j, freed); t.ok && (!c.ok || t.gain() > c.gain()) {
			b.best[j] = t
		}
	}
}

// refreshTargets recomputes the target shortlist and returns the source one
// (nil when every node is both).
func (b *balancer) refreshTargets() []bool {
	if b.full() {
		b.targets = nil
		return nil
	}
	src, dst := b.st.shortlists(b.opt.Shortlist)
	b.targets = b.targets[:0]
	for n, ok := range dst {
		if ok {
			b.targets = append(b.targets, n)
		}
	}
	return src
}

// evalInstance returns instance i's best move towards targets (nil: all nodes),
// failover included.
func (b *balancer) evalInstance(i int, targets []int) candidate { return b.evalMoves(i, targets, true) }

// evalTowards returns instance i's best move towards targets, failover excluded.
func (b *balancer) evalTowards(i int, targets []int) candidate { return b.evalMoves(i, targets, false) }

func (b *balancer) evalMoves(i int, targets []int, failover bool) candidate {
	st := b.st
	c := candidate{base: st.score(), step: b.step}
	if !st.movable(i) {
		return c
	}
	P, S := st.ipri[i], st.isec[i]
	try := func(p, s int) {
		sc, rej := st.eval(i, p, s)
		if rej == nil && (!c.ok || sc < c.score) {
			c.ok, c.p, c.s, c.score = true, p, s, sc
		}
	}
	if failover {
		try(S, P)
	}
	visit := func(n int) {
		if n < 0 || n == P || n == S {
			return
		}
		try(P, n)
		try(S, n)
		try(n, P)
		try(n, S)
	}
	if targets == nil {
		for n := range st.nn {
			visit(n)
		}
	} else {
		for _, n := range targets {
			visit(n)
		}
	}
	return c
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
		if !st.movable(i) {
			continue
		}
		P, S := st.ipri[i], st.isec[i]
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

// movable reports whether balance may move instance i: a DRBD instance with
// both nodes. Plain, file and diskless instances (no secondary) stay put.
func (st *state) movable(i int) bool {
	return st.inst[i].Template.Mirrored() && st.ipri[i] >= 0 && st.isec[i] >= 0
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
