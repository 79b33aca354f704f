package allocator

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
	rej := st.apply(i, p, s)
	sc := 0.0
	if rej == nil {
		sc = st.score()
	}
	st.apply(i, op, os)
	return sc, rej
}

// apply moves instance i to (p, s), updates the statistics, and checks the
// filters. The move stays applied even when rejected; callers undo it.
func (st *state) apply(i, p, s int) *Rejection {
	op, os := st.ipri[i], st.isec[i]
	touched := [4]int{op, os, p, s}
	clear(st.prevFail)
	clear(st.prevConf)
	for _, n := range touched {
		if n >= 0 {
			st.prevFail[n] = st.failN1(n)
			st.prevConf[n] = st.conflicts[n]
		}
	}
	st.prevP, st.prevS = op, os
	st.unplace(i)
	st.place(i, p, s)
	for _, n := range touched {
		if n >= 0 {
			st.refresh(n)
		}
	}
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
