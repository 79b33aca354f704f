package allocator

import (
	"cmp"
	"slices"
)

// capCache speeds up Capacity on big clusters, where every new instance has
// the same spec: each node's score as a lone primary and as a lone
// secondary is kept between allocations and recomputed only for the nodes
// the last allocation touched. Whether a node fits a role depends on that
// node alone, so a cached rejection stays right; a cached score is only
// stale by the shift of the cluster means, so the best candidates by cached
// score are re-scored exactly before being paired. When no pair of them fits,
// the full search (with every node's rejection) decides.
type capCache struct {
	valid     bool
	prim, sec []float64
	okP, okS  []bool
	touched   []int
	nodes     []int // scratch
	count     int   // allocations, for the periodic recount
	lastTmpl  Instance
}

// capCacheNodes is the node count above which Capacity uses the cache: at 100
// nodes the full search fits ~1% more instances and is fast enough.
const capCacheNodes = 4 * exhaustiveBalance

// allocate places in like st.allocate, faster on big DRBD clusters.
func (cc *capCache) allocate(st *state, in Instance) (Allocation, error) {
	if st.nn <= capCacheNodes || !in.Template.Mirrored() {
		return st.allocate(in)
	}
	if cc.valid && !sameSpec(cc.lastTmpl, in) {
		cc.valid = false
	}
	i := st.addInstance(in)
	score := func(n int) {
		sc, rej := st.eval(i, n, -1)
		cc.prim[n], cc.okP[n] = sc, rej == nil
		sc, rej = st.eval(i, -1, n)
		cc.sec[n], cc.okS[n] = sc, rej == nil
	}
	if !cc.valid {
		cc.prim, cc.sec = make([]float64, st.nn), make([]float64, st.nn)
		cc.okP, cc.okS = make([]bool, st.nn), make([]bool, st.nn)
		for n := range st.nn {
			score(n)
		}
		cc.valid, cc.lastTmpl = true, in
	} else {
		for _, n := range cc.touched {
			score(n)
		}
	}
	best := func(vals []float64, ok []bool, exact func(n int) (float64, bool)) []scored {
		nodes := cc.nodes[:0]
		for n := range st.nn {
			if ok[n] {
				nodes = append(nodes, n)
			}
		}
		cc.nodes = nodes
		top := firstK(nodes, shortlist, func(a, b int) bool { return vals[a] < vals[b] || (vals[a] == vals[b] && a < b) })
		all := make([]scored, len(top))
		for k, n := range top {
			all[k] = scored{n, vals[n]}
		}
		byScore := func(a, b scored) int { return cmp.Or(cmp.Compare(a.score, b.score), cmp.Compare(a.node, b.node)) }
		for k := range all {
			all[k].score, _ = exact(all[k].node)
			vals[all[k].node] = all[k].score
		}
		slices.SortFunc(all, byScore)
		return all
	}
	prim := best(cc.prim, cc.okP, func(n int) (float64, bool) { sc, rej := st.eval(i, n, -1); return sc, rej == nil })
	sec := best(cc.sec, cc.okS, func(n int) (float64, bool) { sc, rej := st.eval(i, -1, n); return sc, rej == nil })
	bestP, bestS, found := -1, -1, false
	var bestSc float64
	ps := st.pairs(i)
	for _, p := range prim {
		for _, s := range sec {
			if p.node == s.node {
				continue
			}
			sc, ok := ps.evalAtMost(st, i, p.node, s.node, bestSc, found)
			if !ok {
				continue
			}
			if !found || sc < bestSc || (sc == bestSc && (p.node < bestP || (p.node == bestP && s.node < bestS))) {
				found, bestSc, bestP, bestS = true, sc, p.node, s.node
			}
		}
	}
	if !found {
		st.dropLastInstance()
		cc.valid = false
		return st.allocate(in)
	}
	st.apply(i, bestP, bestS)
	if cc.count++; cc.count%recountEvery == 0 {
		st.recomputeStats()
	}
	cc.touched = []int{bestP, bestS}
	return Allocation{Instance: in.Name, Primary: st.name[bestP], Secondary: st.name[bestS], Score: bestSc}, nil
}

func sameSpec(a, b Instance) bool {
	return a.Mem == b.Mem && a.Disk == b.Disk && a.VCPUs == b.VCPUs && a.Template == b.Template &&
		a.SpindleUse == b.SpindleUse && slices.Equal(a.Tags, b.Tags) && a.RunState == b.RunState
}
