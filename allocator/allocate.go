package allocator

import (
	"cmp"
	"fmt"
	"slices"
)

// AllocateRequest asks for a place for one new instance.
type AllocateRequest struct {
	Name       string
	Mem        int64 // MiB
	Disk       int64 // MiB
	VCPUs      int
	Template   DiskTemplate
	Tags       []string
	SpindleUse int    // 0 means 1
	RunState   string // "" means running
}

func (r AllocateRequest) instance() (Instance, error) {
	if r.Name == "" {
		return Instance{}, fmt.Errorf("%w: instance name is empty", ErrInvalidRequest)
	}
	if !r.Template.Valid() {
		return Instance{}, fmt.Errorf("%w: unknown disk template %q", ErrInvalidRequest, r.Template)
	}
	if r.Mem <= 0 || r.Disk < 0 || r.VCPUs <= 0 {
		return Instance{}, fmt.Errorf("%w: memory and vcpus must be positive, disk not negative", ErrInvalidRequest)
	}
	in := Instance{Name: r.Name, Mem: r.Mem, Disk: r.Disk, VCPUs: r.VCPUs, Template: r.Template,
		Tags: slices.Clone(r.Tags), RunState: r.RunState, AutoBalance: true, SpindleUse: r.SpindleUse}
	if in.RunState == "" {
		in.RunState = StateRunning
	}
	if in.SpindleUse == 0 {
		in.SpindleUse = 1
	}
	return in, nil
}

// Allocation is where one instance goes.
type Allocation struct {
	Instance  string      `json:"instance"`
	Primary   string      `json:"primary"`
	Secondary string      `json:"secondary,omitempty"`
	Score     float64     `json:"score"`
	Rejected  []Rejection `json:"rejected,omitempty"`
}

// AllocateResult is the answer to Allocate.
type AllocateResult struct {
	Allocation
	InitialScore float64 `json:"initial_score"`
	// Cluster is the snapshot with the instance placed.
	Cluster *Cluster `json:"-"`
}

// Allocate finds the node (or DRBD node pair) for a new instance that leaves
// the lowest cluster score. When nothing fits, the error wraps ErrNoFit and the
// result still lists why each node was rejected.
func (c *Cluster) Allocate(req AllocateRequest) (AllocateResult, error) {
	in, err := req.instance()
	if err != nil {
		return AllocateResult{}, err
	}
	if _, dup := c.instIx[in.Name]; dup {
		return AllocateResult{}, fmt.Errorf("%w: instance %q already exists", ErrInvalidRequest, in.Name)
	}
	st := newState(c, allocFilters())
	res := AllocateResult{InitialScore: st.score()}
	a, err := st.allocate(in)
	res.Allocation = a
	if err != nil {
		return res, err
	}
	res.Cluster = st.snapshot()
	return res, nil
}

// allocate adds and places in; on failure the state is unchanged.
func (st *state) allocate(in Instance) (Allocation, error) {
	i := st.addInstance(in)
	p, s, sc, rej := st.bestPlacement(i, nil)
	a := Allocation{Instance: in.Name, Rejected: rej}
	if p < 0 {
		st.dropLastInstance()
		return a, fmt.Errorf("allocate %q: %w", in.Name, ErrNoFit)
	}
	st.apply(i, p, s)
	st.recomputeStats()
	a.Primary, a.Score = st.name[p], sc
	if s >= 0 {
		a.Secondary = st.name[s]
	}
	return a, nil
}

// exhaustivePairs is the node count up to which every DRBD pair is tried.
const exhaustivePairs = 40

// shortlist is how many primaries and secondaries are paired on big clusters.
const shortlist = 10

type scored struct {
	node  int
	score float64
}

// bestPlacement finds the best (p, s) for instance i, skipping nodes in skip.
// p is -1 when nothing fits. Rejections list each node that cannot take a
// role (for DRBD: the primary's reason first).
func (st *state) bestPlacement(i int, skip []bool) (bestP, bestS int, best float64, rejected []Rejection) {
	bestP, bestS = -1, -1
	mirrored := st.inst[i].Template.Mirrored()
	var prim, sec []scored
	why := map[int]*Rejection{}
	for n := range st.nn {
		if skip != nil && skip[n] {
			continue
		}
		scP, rejP := st.eval(i, n, -1)
		if rejP == nil {
			prim = append(prim, scored{n, scP})
		}
		if !mirrored {
			if rejP != nil {
				why[n] = rejP
			}
			continue
		}
		scS, rejS := st.eval(i, -1, n)
		if rejS == nil {
			sec = append(sec, scored{n, scS})
		}
		switch {
		case rejP != nil:
			why[n] = rejP
		case rejS != nil:
			why[n] = rejS
		}
	}
	byScore := func(a, b scored) int { return cmp.Or(cmp.Compare(a.score, b.score), cmp.Compare(a.node, b.node)) }
	if !mirrored {
		if len(prim) > 0 {
			b := slices.MinFunc(prim, byScore)
			bestP, best = b.node, b.score
		}
		return bestP, bestS, best, rejections(st, why)
	}
	slices.SortFunc(prim, byScore)
	slices.SortFunc(sec, byScore)
	k := len(prim) + len(sec)
	if st.nn > exhaustivePairs {
		k = shortlist
	}
	ps := st.pairs(i)
	for {
		found := false
		for _, p := range prim[:min(k, len(prim))] {
			for _, s := range sec[:min(k, len(sec))] {
				if p.node == s.node {
					continue
				}
				sc, ok := ps.evalAtMost(st, i, p.node, s.node, best, found)
				if !ok {
					continue
				}
				if !found || sc < best || (sc == best && (p.node < bestP || (p.node == bestP && s.node < bestS))) {
					found, best, bestP, bestS = true, sc, p.node, s.node
				}
			}
		}
		if found || (k >= len(prim) && k >= len(sec)) {
			break
		}
		k *= 4 // widen the shortlist only when no pair of it fits
	}
	return bestP, bestS, best, rejections(st, why)
}

func rejections(st *state, why map[int]*Rejection) []Rejection {
	out := make([]Rejection, 0, len(why))
	for n := range st.nn {
		if r, ok := why[n]; ok {
			out = append(out, *r)
		}
	}
	return out
}

// MultiAllocateResult is the answer to MultiAllocate.
type MultiAllocateResult struct {
	Allocated []Allocation `json:"allocated"`
	Failed    []Failure    `json:"failed,omitempty"`
	Cluster   *Cluster     `json:"-"`
}

// Failure says why one instance of a request could not be handled.
type Failure struct {
	Instance string      `json:"instance"`
	Error    string      `json:"error"`
	Rejected []Rejection `json:"rejected,omitempty"`
}

// MultiAllocate places several new instances in order, each seeing the ones
// before it. Instances that do not fit are listed in Failed.
func (c *Cluster) MultiAllocate(reqs []AllocateRequest) (MultiAllocateResult, error) {
	st := newState(c, allocFilters())
	var res MultiAllocateResult
	seen := map[string]bool{}
	for _, r := range reqs {
		in, err := r.instance()
		if err != nil {
			return MultiAllocateResult{}, err
		}
		if _, dup := c.instIx[in.Name]; dup || seen[in.Name] {
			return MultiAllocateResult{}, fmt.Errorf("%w: instance %q already exists", ErrInvalidRequest, in.Name)
		}
		seen[in.Name] = true
		a, err := st.allocate(in)
		if err != nil {
			res.Failed = append(res.Failed, Failure{Instance: in.Name, Error: err.Error(), Rejected: a.Rejected})
			continue
		}
		res.Allocated = append(res.Allocated, a)
	}
	res.Cluster = st.snapshot()
	return res, nil
}

// Relocate finds a new secondary for a DRBD instance (hbal's "r:N").
func (c *Cluster) Relocate(instance string) (Plan, error) {
	ix, ok := c.instIx[instance]
	if !ok {
		return Plan{}, fmt.Errorf("relocate %q: %w", instance, ErrUnknownInstance)
	}
	if !c.spec.Instances[ix].Template.Mirrored() {
		return Plan{}, fmt.Errorf("relocate %q: %w: template %s has no secondary", instance, ErrNotMovable, c.spec.Instances[ix].Template)
	}
	st := newState(c, moveFilters())
	plan := Plan{InitialScore: st.score()}
	n, _, rej := st.bestSecondary(ix, nil)
	if n < 0 {
		return plan, fmt.Errorf("relocate %q: %w (%d nodes rejected)", instance, ErrNoFit, len(rej))
	}
	plan.Moves = append(plan.Moves, st.commit(ix, st.ipri[ix], n, ""))
	st.recomputeStats()
	plan.FinalScore = st.score()
	plan.Cluster = st.snapshot()
	return plan, nil
}

// bestSecondary picks the best new secondary for instance i, skipping nodes in skip.
func (st *state) bestSecondary(i int, skip []bool) (int, float64, []Rejection) {
	p, s := st.ipri[i], st.isec[i]
	best, bestSc := -1, 0.0
	why := map[int]*Rejection{}
	for n := range st.nn {
		if n == p || n == s || (skip != nil && skip[n]) {
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
	return best, bestSc, rejections(st, why)
}
