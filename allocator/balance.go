package allocator

import (
	"math"
	"slices"
)

// BalanceOptions tune Balance.
type BalanceOptions struct {
	// MaxMoves caps the plan length; 0 means no cap. Negative means no moves.
	MaxMoves int
	// MinGain is the smallest score gain a move must bring; 0 means 1e-9.
	MinGain float64
	// Shortlist is how many nodes per criterion are taken as move sources and
	// targets on clusters bigger than exhaustiveBalance nodes; 0 means 8, 4
	// above 96 nodes, 2 above 384.
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
		switch {
		case st.nn > 8*exhaustiveBalance:
			opt.Shortlist = 2
		case st.nn > 2*exhaustiveBalance:
			opt.Shortlist = 4
		default:
			opt.Shortlist = 8
		}
	}
	plan := Plan{InitialScore: st.score()}
	lazy, exact := searches(st.nn)
	var raw []rawMove
	var score float64
	if lazy {
		raw, score = runBalancer(st, opt, false)
	}
	if exact {
		// a plan from the exact greedy (hbal's own search); of two plans
		// the shorter wins, then the lower score
		alt, altScore := runBalancer(newState(c, moveFilters()), opt, true)
		if !lazy || len(alt) < len(raw) || (len(alt) == len(raw) && altScore < score) {
			raw = alt
		}
	}
	// render the plan by replaying it: kinds, origins and the score after each
	fresh := newState(c, moveFilters())
	plan.Moves = plan.Moves[:0]
	for _, m := range raw {
		plan.Moves = append(plan.Moves, fresh.commit(m.i, m.p, m.s, ""))
	}
	fresh.recomputeStats()
	plan.FinalScore = fresh.score()
	if k := len(plan.Moves); k > 0 {
		plan.Moves[k-1].Score = plan.FinalScore // the same, without rounding drift
	}
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
	onNode  [][]int // big clusters: movable instances on each node
	seen    []int   // per instance: stamp of the last re-evaluation
	stamp   int
	tree    *maxTree // gains of best, for the lazy search
	exact   bool     // exact greedy: every move re-evaluated each step
	deep    bool     // shorten also tries trimDeep
	ms      *moveScorer
}

// fullDirty: on small clusters, re-evaluate instances on every touched node.
var fullDirty = true

// maxExhaustivePasses bounds the exhaustive checks after the lazy search.
const maxExhaustivePasses = 3

func (b *balancer) full() bool { return b.st.nn <= exhaustiveBalance }

func (b *balancer) done() bool {
	return b.opt.MaxMoves < 0 || (b.opt.MaxMoves > 0 && len(b.plan.Moves) >= b.opt.MaxMoves)
}

// Which searches Balance runs, by node count. Up to exactOnlyBalance nodes
// the exact greedy alone: hbal takes 1-6 s there, and 100 times faster
// leaves no room for a second search. Up to exactBalance nodes, and from
// deepBalance to exhaustiveBalance, both searches, each plan polished and
// shortened; the shorter plan wins, then the lower score. In between (where
// hbal takes 20-70 s, and the exact search 0.2-0.4 s) and above, the lazy
// greedy alone.
const (
	exactOnlyBalance = 12
	exactBalance     = 16
	deepBalance      = 24
)

// searches returns whether Balance runs the lazy and the exact greedy on a
// cluster of nn nodes.
func searches(nn int) (lazy, exact bool) {
	switch {
	case nn <= exactOnlyBalance:
		return false, true
	case nn <= exactBalance, nn > deepBalance && nn <= exhaustiveBalance:
		return true, true
	}
	return true, false
}

// runBalancer searches a plan on st (lazy or exact greedy), polishes and
// shortens it on clusters small enough, and returns its moves and the score
// they reach.
func runBalancer(st *state, opt BalanceOptions, exact bool) ([]rawMove, float64) {
	var moves Plan
	b := balancer{st: st, opt: opt, plan: &moves, exact: exact, deep: st.nn > deepBalance && st.nn <= exhaustiveBalance}
	if exact {
		st.psCache = make([]psEntry, len(st.inst)) // most instances keep P and S from step to step
	}
	b.run()
	greedy := st.score()
	if st.nn <= 4*exhaustiveBalance {
		b.polish()
		b.shorten(greedy)
	}
	return b.raw, st.score()
}

func (b *balancer) run() {
	st := b.st
	if b.exact {
		// every step tries every move of every instance, as hbal does
		for !b.done() {
			i, p, s, sc := st.bestMove(0, true)
			if i < 0 || st.score()-sc < b.opt.MinGain {
				return
			}
			b.commit(i, p, s)
		}
		return
	}
	if !b.full() {
		b.listNodes()
	}
	for !b.done() {
		b.src = b.refreshTargets()
		b.best = make([]candidate, len(st.inst))
		b.tree = newMaxTree(len(st.inst))
		for i := range st.inst {
			b.setBest(i, b.evalInstance(i, b.targets))
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

// lazyStep commits the best move and reports whether there was one. The
// best candidate is re-evaluated until one computed at the current score is
// on top. On big clusters a stale top candidate first re-checks only its own
// move: when that still beats every other candidate, it is taken.
func (b *balancer) lazyStep() bool {
	st := b.st
	cur := st.score()
	b.step++
	for {
		bi := b.tree.top()
		if bi >= len(b.best) {
			return false // no instance at all
		}
		c := b.best[bi]
		if !c.ok || c.gain() < b.opt.MinGain {
			return false
		}
		if c.step == b.step && c.base == cur {
			b.commit(bi, c.p, c.s)
			return true
		}
		if !b.full() && c.step != b.step {
			if sc, rej := st.eval(bi, c.p, c.s); rej == nil {
				b.setBest(bi, candidate{p: c.p, s: c.s, score: sc, base: cur, ok: true, step: b.step})
				continue
			}
		}
		fresh := b.evalInstance(bi, b.targets)
		fresh.step = b.step
		b.setBest(bi, fresh)
	}
}

// setBest records instance i's candidate and its gain in the tree.
func (b *balancer) setBest(i int, c candidate) {
	b.best[i] = c
	k := math.Inf(-1)
	if c.ok {
		k = c.gain()
	}
	b.tree.set(i, k)
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
	if !b.full() {
		b.commitShortlisted(i, op, os, freed)
		return
	}
	for j := range st.inst {
		if !st.movable(j) {
			continue // plain, file, diskless...: balance never moves them
		}
		c := b.best[j]
		if slices.Contains(gained, st.ipri[j]) || slices.Contains(gained, st.isec[j]) {
			b.setBest(j, b.evalInstance(j, nil))
			continue
		}
		// moves towards the touched nodes may have become better; a stale
		// best move is re-evaluated by lazyStep before it is taken
		if len(freed) == 0 {
			continue
		}
		if t := b.evalTowards(j, freed); t.ok && (!c.ok || t.gain() > c.gain()) {
			b.setBest(j, t)
		}
	}
}

// commitShortlisted updates the candidates after instance i moved from
// (op, os), on a cluster big enough for shortlists: instances on the nodes
// that gained load are re-evaluated; instances on source nodes are tried
// towards the freed nodes that are targets and towards nodes that just
// became targets. Instances are found through per-node lists, not a scan.
func (b *balancer) commitShortlisted(i, op, os int, freed []int) {
	st := b.st
	p, s := st.ipri[i], st.isec[i]
	b.unlist(i, op)
	b.unlist(i, os)
	b.onNode[p] = append(b.onNode[p], i)
	b.onNode[s] = append(b.onNode[s], i)
	var towards []int
	if len(b.raw)%b.refreshEvery() == 0 {
		was := make(map[int]bool, len(b.targets))
		for _, n := range b.targets {
			was[n] = true
		}
		b.src = b.refreshTargets()
		for _, n := range b.targets {
			if !was[n] {
				towards = append(towards, n)
			}
		}
	}
	isTarget := func(n int) bool { return slices.Contains(b.targets, n) }
	for _, n := range freed {
		if isTarget(n) && !slices.Contains(towards, n) {
			towards = append(towards, n)
		}
	}
	b.stamp++
	// Instances on a gained node that is a source may now gain more by
	// leaving: re-evaluate them. On other nodes (targets, mostly), re-check
	// only their candidate move.
	for _, g := range []int{p, s} {
		for _, j := range b.onNode[g] {
			if b.seen[j] == b.stamp {
				continue
			}
			b.seen[j] = b.stamp
			if b.src[g] {
				b.setBest(j, b.evalInstance(j, b.targets))
				continue
			}
			if c := b.best[j]; c.ok {
				if sc, rej := st.eval(j, c.p, c.s); rej == nil {
					c.score, c.base, c.step = sc, st.score(), b.step
					b.setBest(j, c)
					continue
				}
				b.setBest(j, b.evalInstance(j, b.targets))
			}
		}
	}
	if len(towards) == 0 {
		return
	}
	for n, ok := range b.src {
		if !ok {
			continue
		}
		for _, j := range b.onNode[n] {
			if b.seen[j] == b.stamp {
				continue
			}
			b.seen[j] = b.stamp
			c := b.best[j]
			if t := b.evalTowards(j, towards); t.ok && (!c.ok || t.gain() > c.gain()) {
				b.setBest(j, t)
			}
		}
	}
}

// listNodes fills the per-node lists of movable instances.
func (b *balancer) listNodes() {
	st := b.st
	b.onNode = make([][]int, st.nn)
	b.seen = make([]int, len(st.inst))
	for j := range st.inst {
		if st.movable(j) {
			b.onNode[st.ipri[j]] = append(b.onNode[st.ipri[j]], j)
			b.onNode[st.isec[j]] = append(b.onNode[st.isec[j]], j)
		}
	}
}

func (b *balancer) unlist(i, n int) {
	l := b.onNode[n]
	if k := slices.Index(l, i); k >= 0 {
		b.onNode[n] = slices.Delete(l, k, k+1)
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
	b.ms = st.scorer(b.ms, i)
	try := func(p, s int) {
		if sc, ok := b.ms.evalBelow(p, s, c.score, c.ok); ok {
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
		var cut uint8 // as in bestMove
		if c.ok {
			cut = b.ms.boundMask(n, c.score, 0)
		}
		b.ms.bounded = true
		if cut&1 == 0 {
			try(P, n)
		}
		if cut&2 == 0 {
			try(S, n)
		}
		if cut&4 == 0 {
			try(n, P)
		}
		if cut&8 == 0 {
			try(n, S)
		}
		b.ms.bounded = false
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
	ms := st.msScratch
	defer func() { st.msScratch = ms }()
	try := func(i, p, s int) {
		if sc, ok := ms.evalBelow(p, s, best, bi >= 0); ok {
			bi, bp, bs, best = i, p, s, sc
		}
	}
	for i := range st.inst {
		if !st.movable(i) {
			continue
		}
		ms = st.scorer(ms, i)
		P, S := st.ipri[i], st.isec[i]
		if src != nil && !src[P] && !src[S] {
			continue
		}
		try(i, S, P)
		var kinds uint8 // the move kinds that certainly score above best
		if bi >= 0 {
			kinds = ms.kindCuts(best)
		}
		for n := range st.nn {
			if n == P || n == S || (dst != nil && !dst[n]) {
				continue
			}
			var cut uint8 // the moves towards n that certainly score above best
			if bi >= 0 {
				cut = ms.boundMask(n, best, kinds)
			}
			ms.bounded = true // each move's bound is in cut
			if cut&1 == 0 {
				try(i, P, n)
			}
			if cut&2 == 0 {
				try(i, S, n)
			}
			if cut&4 == 0 {
				try(i, n, P)
			}
			if cut&8 == 0 {
				try(i, n, S)
			}
			ms.bounded = false
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
	vals := make([]float64, st.nn)
	for _, key := range keys {
		for _, n := range nodes {
			vals[n] = key(n)
		}
		// most loaded first (ties: lower index), and least loaded first
		// (ties: higher index): the two ends of one sorted order
		for _, n := range firstK(nodes, k, func(a, b int) bool { return vals[a] > vals[b] || (vals[a] == vals[b] && a < b) }) {
			src[n] = true
		}
		for _, n := range firstK(nodes, k, func(a, b int) bool { return vals[a] < vals[b] || (vals[a] == vals[b] && a > b) }) {
			dst[n] = true
		}
	}
	return src, dst
}

// firstK returns the k first nodes in the order before, in O(len(nodes)·k).
func firstK(nodes []int, k int, before func(a, b int) bool) []int {
	out := make([]int, 0, k+1)
	for _, n := range nodes {
		if len(out) == k && !before(n, out[k-1]) {
			continue
		}
		j := len(out)
		if j < k {
			out = append(out, n)
		} else {
			j = k - 1
		}
		for j > 0 && before(n, out[j-1]) {
			out[j] = out[j-1]
			j--
		}
		out[j] = n
	}
	return out
}

// refreshEvery is how many moves the target shortlist is kept: longer on
// big clusters, where each new target is tried by every source instance.
func (b *balancer) refreshEvery() int {
	return 8
}
