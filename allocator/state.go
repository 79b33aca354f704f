package allocator

import (
	"slices"
	"strings"
)

// role is what a node is for an instance.
type role int

const (
	rolePrimary role = iota
	roleSecondary
)

func (r role) String() string {
	if r == rolePrimary {
		return "primary"
	}
	return "secondary"
}

// state is the allocator's private, mutable working copy of a snapshot. Every
// request builds its own from the immutable Cluster, so requests never share one.
// Score statistics are kept incrementally: touching a node subtracts its old
// contribution and adds the new one.
type state struct {
	c      *Cluster
	nn     int
	filter []Filter

	// static per node
	name            []string
	tMem, nMem      []int64
	tDsk            []int64
	tCpu            []float64
	hiSpn           []float64
	offline, drain  []bool
	unalloc         []bool
	locTags         [][]string
	vcpuRatio       []float64
	exclPrefixes    []string
	locationPrefixs []string

	// dynamic per node
	fMem, fDsk []int64
	uCpu       []int
	pCnt, sCnt []int
	spn        []int
	rMem       []int64
	peers      []int64   // peers[s*nn+p]: memory of p's instances mirrored on s
	peerList   [][]int32 // per s: the p with peers[s*nn+p] > 0 (and maybe some zeros)
	inList     []bool    // inList[s*nn+p]: p is in peerList[s]
	excl       []map[string]int
	conflicts  []int
	locBad     []int

	// per instance
	inst       []Instance
	ipri, isec []int
	iexcl      [][]string

	// inv[n]: 1/total memory, 1/total disk, 1/cpus, 1/(spindles*ratio), or 0
	inv [][4]float64

	// score statistics
	vals    [][nComp]float64
	sum, sq [nComp]float64
	nOnline int
	commits int // moves committed, for the periodic recount

	pairCache *pairScorer // scratch of pairs
	psCache   []psEntry   // per instance, when not nil: scorer's P and S values
	msScratch *moveScorer // bestMove's scorer, kept from step to step
	nodeGen   []int       // per node: bumped whenever its load may have changed
	sumsGen   uint64      // bumped whenever sum or sq change
	lb        bounds      // lower-bound coefficients for the sums of sumsGen
	agg       nodeAgg     // extremes of the node values, for kindCuts

	// per evaluation: the instance's placement before the move, and the
	// N+1 / tag state of the touched nodes before it.
	prevP, prevS int
	prevN        [4]int
	prevKnown    bool
	prevInst     int
	prevFail     [4]bool
	prevConf     [4]int
}

func newState(c *Cluster, filters []Filter) *state {
	nodes := c.spec.Nodes
	nn := len(nodes)
	st := &state{c: c, nn: nn, filter: filters}
	for _, t := range c.spec.Tags {
		if p, ok := strings.CutPrefix(t, "htools:iextags:"); ok {
			st.exclPrefixes = append(st.exclPrefixes, p)
		}
		if p, ok := strings.CutPrefix(t, "htools:nlocation:"); ok {
			st.locationPrefixs = append(st.locationPrefixs, p)
		}
	}
	st.name = make([]string, nn)
	st.tMem, st.nMem, st.tDsk = make([]int64, nn), make([]int64, nn), make([]int64, nn)
	st.tCpu, st.hiSpn, st.vcpuRatio = make([]float64, nn), make([]float64, nn), make([]float64, nn)
	st.offline, st.drain, st.unalloc = make([]bool, nn), make([]bool, nn), make([]bool, nn)
	st.locTags = make([][]string, nn)
	st.fMem, st.fDsk, st.rMem = make([]int64, nn), make([]int64, nn), make([]int64, nn)
	st.uCpu, st.pCnt, st.sCnt, st.spn = make([]int, nn), make([]int, nn), make([]int, nn), make([]int, nn)
	st.peers = make([]int64, nn*nn)
	st.peerList = make([][]int32, nn)
	st.inList = make([]bool, nn*nn)
	st.excl = make([]map[string]int, nn)
	st.conflicts, st.locBad = make([]int, nn), make([]int, nn)
	st.vals = make([][nComp]float64, nn)
	st.inv = make([][4]float64, nn)
	st.nodeGen = make([]int, nn)
	for i, n := range nodes {
		pol := c.policyFor(n.Group)
		st.name[i] = n.Name
		st.tMem[i], st.nMem[i], st.tDsk[i] = n.TotalMem, n.NodeMem, n.TotalDisk
		st.tCpu[i] = float64(n.CPUs)
		sp := max(n.Spindles, 1)
		st.hiSpn[i] = pol.SpindleRatio * float64(sp)
		st.vcpuRatio[i] = pol.VCPURatio
		st.inv[i] = [4]float64{ratio(1, float64(n.TotalMem)), ratio(1, float64(n.TotalDisk)),
			ratio(1, float64(n.CPUs)), ratio(1, st.hiSpn[i])}
		st.offline[i], st.drain[i] = n.Offline, n.Drained
		st.unalloc[i] = c.groupUnallocable(n.Group)
		st.fMem[i], st.fDsk[i] = n.FreeMem, n.FreeDisk
		st.uCpu[i] = 1 // the node's own CPU, as htools counts it
		st.excl[i] = map[string]int{}
		for _, t := range n.Tags {
			for _, p := range st.locationPrefixs {
				if strings.HasPrefix(t, p) {
					st.locTags[i] = append(st.locTags[i], t)
				}
			}
		}
	}
	// The snapshot's free memory and disk already account for the instances;
	// add them back, then place every instance through the same code as a move.
	st.inst = make([]Instance, 0, len(c.spec.Instances)+1)
	for _, in := range c.spec.Instances {
		p := c.nodeIx[in.Primary]
		s := -1
		if in.Secondary != "" {
			s = c.nodeIx[in.Secondary]
		}
		i := st.addInstance(in)
		st.place(i, p, s)
		if usesMemory(in.RunState) {
			st.fMem[p] += in.Mem
		}
		if in.Template.usesLocalDisk() {
			st.fDsk[p] += in.Disk
			if s >= 0 {
				st.fDsk[s] += in.Disk
			}
		}
	}
	st.recomputeStats()
	return st
}

// addInstance registers an instance that is not placed yet and returns its index.
func (st *state) addInstance(in Instance) int {
	st.inst = append(st.inst, in)
	st.ipri = append(st.ipri, -1)
	st.isec = append(st.isec, -1)
	var ex []string
	for _, t := range in.Tags {
		for _, p := range st.exclPrefixes {
			if strings.HasPrefix(t, p) {
				ex = append(ex, t)
			}
		}
	}
	st.iexcl = append(st.iexcl, ex)
	return len(st.inst) - 1
}

// dropLastInstance forgets the last instance added (it must be unplaced).
func (st *state) dropLastInstance() {
	k := len(st.inst) - 1
	st.inst, st.ipri, st.isec, st.iexcl = st.inst[:k], st.ipri[:k], st.isec[:k], st.iexcl[:k]
}

func (st *state) usesSecMem(in *Instance) bool {
	return in.Template.Mirrored() && in.AutoBalance && usesMemory(in.RunState)
}

func (st *state) sharesLocation(p, s int) bool {
	if p < 0 || s < 0 {
		return false
	}
	for _, t := range st.locTags[p] {
		if slices.Contains(st.locTags[s], t) {
			return true
		}
	}
	return false
}

// place puts instance i on p (and s, or -1). It must be unplaced.
func (st *state) place(i, p, s int) {
	in := &st.inst[i]
	st.ipri[i], st.isec[i] = p, s
	if p >= 0 {
		if usesMemory(in.RunState) {
			st.fMem[p] -= in.Mem
		}
		if in.Template.usesLocalDisk() {
			st.fDsk[p] -= in.Disk
		}
		st.uCpu[p] += in.VCPUs
		st.pCnt[p]++
		st.spn[p] += in.SpindleUse
		for _, t := range st.iexcl[i] {
			st.excl[p][t]++
			if st.excl[p][t] > 1 {
				st.conflicts[p]++
			}
		}
		if st.sharesLocation(p, s) {
			st.locBad[p]++
		}
	}
	if s >= 0 {
		if in.Template.usesLocalDisk() {
			st.fDsk[s] -= in.Disk
		}
		st.sCnt[s]++
		st.spn[s] += in.SpindleUse
		if p >= 0 && st.usesSecMem(in) {
			old := st.peers[s*st.nn+p]
			v := old + in.Mem
			st.peers[s*st.nn+p] = v
			if !st.inList[s*st.nn+p] {
				st.inList[s*st.nn+p] = true
				st.peerList[s] = append(st.peerList[s], int32(p))
			}
			if v > st.rMem[s] {
				st.rMem[s] = v
			}
		}
	}
}

// unplace removes instance i from its nodes.
func (st *state) unplace(i int) {
	in := &st.inst[i]
	p, s := st.ipri[i], st.isec[i]
	if p >= 0 {
		if usesMemory(in.RunState) {
			st.fMem[p] += in.Mem
		}
		if in.Template.usesLocalDisk() {
			st.fDsk[p] += in.Disk
		}
		st.uCpu[p] -= in.VCPUs
		st.pCnt[p]--
		st.spn[p] -= in.SpindleUse
		for _, t := range st.iexcl[i] {
			if st.excl[p][t] > 1 {
				st.conflicts[p]--
			}
			st.excl[p][t]--
		}
		if st.sharesLocation(p, s) {
			st.locBad[p]--
		}
	}
	if s >= 0 {
		if in.Template.usesLocalDisk() {
			st.fDsk[s] += in.Disk
		}
		st.sCnt[s]--
		st.spn[s] -= in.SpindleUse
		if p >= 0 && st.usesSecMem(in) {
			old := st.peers[s*st.nn+p]
			st.peers[s*st.nn+p] = old - in.Mem
			if old == st.rMem[s] {
				st.rMem[s] = st.maxPeer(s)
			}
		}
	}
	st.ipri[i], st.isec[i] = -1, -1
}

// maxPeer recomputes node s's reserved memory from its peer list, dropping
// peers it no longer mirrors.
func (st *state) maxPeer(s int) int64 {
	row := st.peers[s*st.nn : (s+1)*st.nn]
	list := st.peerList[s]
	var m int64
	k := 0
	for _, p := range list {
		if v := row[p]; v > 0 {
			list[k] = p
			k++
			m = max(m, v)
		} else {
			st.inList[s*st.nn+int(p)] = false
		}
	}
	st.peerList[s] = list[:k]
	return m
}

// failN1 reports whether node n cannot absorb the primaries of its worst peer.
func (st *state) failN1(n int) bool {
	return st.rMem[n] > 0 && st.fMem[n] < st.rMem[n]
}

// down reports whether node n takes no part in the spread statistics.
func (st *state) down(n int) bool { return st.offline[n] || st.drain[n] }

// snapshot returns the working state as a new immutable Cluster.
func (st *state) snapshot() *Cluster {
	s := cloneSpec(st.c.spec)
	for i := range s.Nodes {
		s.Nodes[i].FreeMem = max(st.fMem[i], 0)
		s.Nodes[i].FreeDisk = max(st.fDsk[i], 0)
	}
	s.Instances = s.Instances[:0]
	for i, in := range st.inst {
		if st.ipri[i] < 0 {
			continue
		}
		in.Tags = slices.Clone(in.Tags)
		in.Primary = st.name[st.ipri[i]]
		in.Secondary = ""
		if st.isec[i] >= 0 {
			in.Secondary = st.name[st.isec[i]]
		}
		s.Instances = append(s.Instances, in)
	}
	c, err := NewCluster(s)
	if err != nil {
		// The state only ever holds what a valid snapshot and valid moves produce.
		panic("allocator: internal state inconsistent: " + err.Error())
	}
	return c
}
