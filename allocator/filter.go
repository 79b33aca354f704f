package allocator

import (
	"math"
	"slices"
)

// Filter is one feasibility check. After a candidate move has been applied to
// the working state, Check is asked about each node that takes a role for the
// instance; it returns "" when the node fits, else why it does not.
type Filter interface {
	Name() string
	Check(st *state, inst, node int, r role) string
}

// Rejection says why a node was not chosen.
type Rejection struct {
	Node   string `json:"node"`
	Role   string `json:"role"`
	Filter string `json:"filter"`
	Reason string `json:"reason"`
}

// moveFilters are the checks every placement and move must pass.
func moveFilters() []Filter {
	return []Filter{nodeStateFilter{}, memoryFilter{}, diskFilter{}, vcpuFilter{},
		exclusionFilter{}, locationFilter{}, n1Filter{}}
}

// allocFilters add the instance policy, which binds only new instances.
func allocFilters() []Filter { return append([]Filter{policyFilter{}}, moveFilters()...) }

// eval moves instance i to (p, s), checks the filters on the nodes taking a
// role, computes the score, and moves it back. It returns the score, or the
// first rejection.
func (st *state) eval(i, p, s int) (float64, *Rejection) {
	op, os := st.ipri[i], st.isec[i]
	st.unplace(i)
	st.place(i, p, s)
	st.prevP, st.prevS = op, os
	rej := st.checkAll(i, p, s, op, os)
	sc := 0.0
	if rej == nil {
		sc = st.placedScore(op, os, p, s)
	}
	st.unplace(i)
	st.place(i, op, os)
	return sc, rej
}

// evalBelow is eval for a search that only wants moves scoring below bound
// (when bounded): the filters run only for those. ok reports that the move
// passes them and, when bounded, scores below bound.
func (st *state) evalBelow(i, p, s int, bound float64, bounded bool) (sc float64, ok bool) {
	return st.evalBounded(i, p, s, bound, bounded, false)
}

// evalAtMost is evalBelow that also keeps moves scoring exactly bound (for
// searches that break ties by node).
func (st *state) evalAtMost(i, p, s int, bound float64, bounded bool) (sc float64, ok bool) {
	return st.evalBounded(i, p, s, bound, bounded, true)
}

func (st *state) evalBounded(i, p, s int, bound float64, bounded, equal bool) (sc float64, ok bool) {
	if st.deltaOK(i) {
		limit := math.Inf(1)
		if bounded {
			limit = bound
		}
		sc = st.movedScoreUntil(i, p, s, limit)
		if !bounded || sc < bound || (equal && sc == bound) {
			ok = st.checkMove(i, p, s) == nil
		}
		return sc, ok
	}
	op, os := st.ipri[i], st.isec[i]
	st.unplace(i)
	st.place(i, p, s)
	sc = st.placedScore(op, os, p, s)
	if !bounded || sc < bound || (equal && sc == bound) {
		st.prevP, st.prevS = op, os
		ok = st.checkAll(i, p, s, op, os) == nil
	}
	st.unplace(i)
	st.place(i, op, os)
	return sc, ok
}

// placedScore is the cluster score with the nodes op, os, p, s refreshed on
// copies of the running sums.
func (st *state) placedScore(op, os, p, s int) float64 {
	sum, sq := st.sum, st.sq
	var touched [4]int
	nt := 0
	for _, n := range [4]int{op, os, p, s} {
		if n >= 0 && !slices.Contains(touched[:nt], n) {
			touched[nt] = n
			nt++
			nv := st.nodeValues(n)
			addValues(&sum, &sq, &nv, &st.vals[n])
		}
	}
	return st.scoreOf(&sum, &sq)
}

// checkAll runs the filters for instance i, now on (p, s), which was on (op, os).
// The N+1 and tag state of the nodes before the move is recomputed by
// undoing it for a moment only when a filter needs it.
func (st *state) checkAll(i, p, s, op, os int) *Rejection {
	st.prevN = [4]int{op, os, p, s}
	st.prevKnown = false
	st.prevInst = i
	if p >= 0 {
		if r := st.check(i, p, rolePrimary); r != nil {
			return r
		}
	}
	if s >= 0 {
		return st.check(i, s, roleSecondary)
	}
	return nil
}

// loadPrev computes the N+1 and conflict state of the touched nodes before
// the move being checked, by undoing and redoing it.
func (st *state) loadPrev() {
	if st.prevKnown {
		return
	}
	i := st.prevInst
	p, s := st.ipri[i], st.isec[i]
	st.unplace(i)
	st.place(i, st.prevP, st.prevS)
	for k, n := range st.prevN {
		if n >= 0 {
			st.prevFail[k] = st.failN1(n)
			st.prevConf[k] = st.conflicts[n]
		}
	}
	st.unplace(i)
	st.place(i, p, s)
	st.prevKnown = true
}

// apply moves instance i to (p, s) for good (statistics included) and checks
// the filters. The move stays applied even when rejected.
func (st *state) apply(i, p, s int) *Rejection {
	op, os := st.ipri[i], st.isec[i]
	st.move(i, p, s)
	st.prevP, st.prevS = op, os
	return st.checkAll(i, p, s, op, os)
}

// move places instance i on (p, s) and refreshes the statistics of the nodes
// involved, without any check.
func (st *state) move(i, p, s int) {
	op, os := st.ipri[i], st.isec[i]
	st.unplace(i)
	st.place(i, p, s)
	for _, n := range [4]int{op, os, p, s} {
		if n >= 0 {
			st.refresh(n)
		}
	}
}

// wasFailingN1 reports whether node n failed N+1 before the move being checked.
func (st *state) wasFailingN1(n int) bool {
	st.loadPrev()
	for k, m := range st.prevN {
		if m == n {
			return st.prevFail[k]
		}
	}
	return false
}

// prevConflicts returns node n's exclusion-tag conflicts before the move.
func (st *state) prevConflicts(n int) int {
	st.loadPrev()
	for k, m := range st.prevN {
		if m == n {
			return st.prevConf[k]
		}
	}
	return st.conflicts[n]
}

func (st *state) check(i, n int, r role) *Rejection {
	for _, f := range st.filter {
		if why := f.Check(st, i, n, r); why != "" {
			return &Rejection{Node: st.name[n], Role: r.String(), Filter: f.Name(), Reason: why}
		}
	}
	return nil
}

// holds reports whether node n already held instance i before the move.
func (st *state) held(n int) bool { return n == st.prevP || n == st.prevS }
