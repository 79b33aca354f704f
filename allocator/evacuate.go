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
		n, rej := st.evacTarget(i, x, skip)
		note := ""
		if n < 0 {
			strict := st.filter
			st.filter = relaxed
			n, _ = st.evacTarget(i, x, skip)
			st.filter = strict
			note = "N+1 cannot be kept for this step"
		}
		if n < 0 {
			res.Unmovable = append(res.Unmovable, Failure{Instance: in.Name, Error: ErrNoFit.Error(), Rejected: rej})
			continue
		}
		p, s := st.ipri[i], n
		if st.ipri[i] == x {
			p = st.isec[i]
		}
		res.Moves = append(res.Moves, st.commit(i, p, s, note))
	}
	res.FinalScore = st.score()
	res.Cluster = st.snapshot()
	return res, nil
}

// evacTarget finds the best new secondary for instance i leaving node x.
func (st *state) evacTarget(i, x int, skip []bool) (int, []Rejection) {
	p := st.ipri[i]
	if p == x {
		p = st.isec[i]
	}
	best, bestSc := -1, 0.0
	why := map[int]*Rejection{}
	for n := range st.nn {
		if skip[n] || n == p {
			continue
		}
		sc, rej := st.eval(i, p, n)
		if rej != nil {
			why[n] = rej
			continue
		}
		if best < 0 || sc < bestSc {
			best, bestSc = n, sc
		}
	}
	return best, rejections(st, why)
}
