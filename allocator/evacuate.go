package allocator

import (
	"cmp"
	"fmt"
	"slices"
)

// EvacuateResult is the answer to Evacuate.
type EvacuateResult struct {
	Plan
	// Unmovable lists instances left on the node, with why.
	Unmovable []Failure `json:"unmovable,omitempty"`
}

// Evacuate plans moving every instance off node: DRBD primaries fail over to
// their secondary and get a new secondary ("f r:N"), DRBD secondaries get a new
// secondary ("r:N"), biggest first. Each step keeps N+1 when some node allows
// it, else it is taken anyway and its Note says so. Instances whose template
// cannot move (plain, file...) are listed in Unmovable. The scores are computed
// with the node counted as drained.
func (c *Cluster) Evacuate(node string) (EvacuateResult, error) {
	x, ok := c.nodeIx[node]
	if !ok {
		return EvacuateResult{}, fmt.Errorf("evacuate %q: %w", node, ErrUnknownNode)
	}
	st := newState(c, moveFilters())
	st.drain[x] = true
	st.recomputeStats()
	var res EvacuateResult
	res.InitialScore = st.score()
	var todo []int
	for i := range st.inst {
		if st.ipri[i] == x || st.isec[i] == x {
			todo = append(todo, i)
		}
	}
	slices.SortStableFunc(todo, func(a, b int) int {
		return cmp.Or(cmp.Compare(st.inst[b].Mem, st.inst[a].Mem), cmp.Compare(st.inst[b].Disk, st.inst[a].Disk))
	})
	skip := make([]bool, st.nn)
	skip[x] = true
	relaxed := make([]Filter, 0, len(st.filter))
	for _, f := range st.filter {
		if _, isN1 := f.(n1Filter); !isN1 {
			relaxed = append(relaxed, f)
		}
	}
	for _, i := range todo {
		in := &st.inst[i]
		if !in.Template.Mirrored() || st.isec[i] < 0 {
			res.Unmovable = append(res.Unmovable, Failure{Instance: in.Name,
				Error: fmt.Sprintf("%v: disk template %s cannot leave its node", ErrNotMovable, in.Template)})
			continue
		}
		p, s, rej := st.evacTarget(i, x, skip)
		note := ""
		if p < 0 {
			strict := st.filter
			st.filter = relaxed
			p, s, _ = st.evacTarget(i, x, skip)
			st.filter = strict
			note = "N+1 cannot be kept for this step"
		}
		if p < 0 {
			res.Unmovable = append(res.Unmovable, Failure{Instance: in.Name, Error: ErrNoFit.Error(), Rejected: rej})
			continue
		}
		res.Moves = append(res.Moves, st.commit(i, p, s, note))
	}
	st.recomputeStats()
	res.FinalScore = st.score()
	res.Cluster = st.snapshot()
	return res, nil
}

// evacTarget finds the best new placement for instance i leaving node x: its
// other node keeps its copy, as primary (p=other) or secondary (s=other).
func (st *state) evacTarget(i, x int, skip []bool) (bp, bs int, rejected []Rejection) {
	other := st.ipri[i]
	if other == x {
		other = st.isec[i]
	}
	bp, bs = -1, -1
	var best float64
	why := map[int]*Rejection{}
	for n := range st.nn {
		if skip[n] || n == other {
			continue
		}
		var last *Rejection
		fits := false
		for _, ps := range [2][2]int{{other, n}, {n, other}} {
			sc, rej := st.eval(i, ps[0], ps[1])
			if rej != nil {
				if last == nil || rej.Node == st.name[n] {
					last = rej
				}
				continue
			}
			fits = true
			if bp < 0 || sc < best {
				bp, bs, best = ps[0], ps[1], sc
			}
		}
		if !fits {
			why[n] = last
		}
	}
	return bp, bs, rejections(st, why)
}
