package allocator

import "math"

// Score components. The first nStd are spread statistics (population standard
// deviation over online nodes); the rest are sums. README.md has the formula.
const (
	cFreeMem  = iota // free memory / total memory
	cFreeDisk        // free disk / total disk
	cVCPU            // used vcpus / physical cpus
	cSpindle         // spindle use / (spindles * spindle ratio)
	cResMem          // N+1 reserved memory / total memory
	cLoadPri         // primary instance count (CPU, memory and network load)
	cLoadDisk        // primary + secondary instance count (disk load)
	nStd
	sN1       = iota - 1 // instances on nodes failing N+1
	sResMem              // sum of reserved memory / total memory
	sTags                // primaries sharing an exclusion tag on one node
	sLocation            // instances whose primary and secondary share a failure domain
	sOffAll              // instances (primary or secondary) on offline or drained nodes
	sOffPri              // primaries on offline or drained nodes
	nComp
)

// weights of each component in the cluster score.
var weights = [nComp]float64{
	cFreeMem: 1, cFreeDisk: 1, cVCPU: 1, cSpindle: 1, cResMem: 1,
	cLoadPri: 3, cLoadDisk: 1,
	sN1: 1, sResMem: 0.25, sTags: 2, sLocation: 1, sOffAll: 4, sOffPri: 16,
}

// componentNames label the components in Score breakdowns.
var componentNames = [nComp]string{
	"free_mem_cv", "free_disk_cv", "vcpu_ratio_cv", "spindles_cv", "reserved_mem_cv",
	"pri_load_cv", "disk_load_cv",
	"n1_cnt", "reserved_mem_rtotal", "pri_tags_score", "location_score",
	"offline_all_cnt", "offline_pri_cnt",
}

// load is a node's dynamic state as far as the score sees it.
type load struct {
	fMem, fDsk, rMem                         int64
	uCpu, pCnt, sCnt, spn, conflicts, locBad int
}

// loadOf returns node n's current load.
func (st *state) loadOf(n int) load {
	return load{fMem: st.fMem[n], fDsk: st.fDsk[n], rMem: st.rMem[n], uCpu: st.uCpu[n],
		pCnt: st.pCnt[n], sCnt: st.sCnt[n], spn: st.spn[n], conflicts: st.conflicts[n], locBad: st.locBad[n]}
}

// nodeValues computes node n's contribution to every component.
func (st *state) nodeValues(n int) [nComp]float64 {
	l := st.loadOf(n)
	return st.valuesOf(n, &l)
}

// valuesOf computes node n's contribution to every component under load l.
func (st *state) valuesOf(n int, l *load) (v [nComp]float64) {
	if st.down(n) {
		v[sOffAll] = float64(l.pCnt + l.sCnt)
		v[sOffPri] = float64(l.pCnt)
		return v
	}
	inv := &st.inv[n]
	v[cFreeMem] = float64(l.fMem) * inv[0]
	v[cFreeDisk] = float64(l.fDsk) * inv[1]
	v[cVCPU] = float64(l.uCpu) * inv[2]
	v[cSpindle] = float64(l.spn) * inv[3]
	rem := float64(l.rMem) * inv[0]
	v[cResMem] = rem
	v[cLoadPri] = float64(l.pCnt)
	v[cLoadDisk] = float64(l.pCnt + l.sCnt)
	if l.rMem > 0 && l.fMem < l.rMem { // failN1
		v[sN1] = float64(l.pCnt + l.sCnt)
	}
	v[sResMem] = rem
	v[sTags] = float64(l.conflicts)
	v[sLocation] = float64(l.locBad)
	return v
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// refresh replaces node n's contribution in the running sums.
func (st *state) refresh(n int) {
	old := &st.vals[n]
	nv := st.nodeValues(n)
	for k := range nStd {
		o, v := old[k], nv[k]
		st.sum[k] += v - o
		st.sq[k] += v*v - o*o
	}
	for k := nStd; k < nComp; k++ {
		st.sum[k] += nv[k] - old[k]
	}
	*old = nv
	st.sumsGen++
	st.nodeGen[n]++
}

// recomputeStats rebuilds the sums from scratch (no floating-point drift).
func (st *state) recomputeStats() {
	st.sum, st.sq = [nComp]float64{}, [nComp]float64{}
	st.nOnline = 0
	st.sumsGen++
	for n := range st.nn {
		st.nodeGen[n]++
		st.vals[n] = st.nodeValues(n)
		if !st.down(n) {
			st.nOnline++
		}
		for k := range nComp {
			st.sum[k] += st.vals[n][k]
			if k < nStd {
				st.sq[k] += st.vals[n][k] * st.vals[n][k]
			}
		}
	}
}

// components returns the unweighted value of every component.
func (st *state) components() [nComp]float64 { return st.componentsOf(&st.sum, &st.sq) }

// componentsOf computes the components from given running sums.
func (st *state) componentsOf(sum, sq *[nComp]float64) (out [nComp]float64) {
	n := float64(st.nOnline)
	for k := range nComp {
		if k >= nStd {
			out[k] = sum[k]
			continue
		}
		if n == 0 {
			continue
		}
		mean := sum[k] / n
		out[k] = math.Sqrt(math.Max(0, sq[k]/n-mean*mean))
	}
	return out
}

// score is the weighted cluster score: lower is better, 0 is perfect.
func (st *state) score() float64 { return st.scoreOf(&st.sum, &st.sq) }

// scoreOf is the score for given running sums.
func (st *state) scoreOf(sum, sq *[nComp]float64) float64 {
	return st.scoreUntil(sum, sq, math.Inf(1))
}

// scoreUntil is scoreOf that may stop adding terms once the partial score is
// above limit: it then returns that partial score, which is already above
// limit. The terms are added in the same order as by componentsOf, so a full
// sum is bit for bit scoreOf's.
func (st *state) scoreUntil(sum, sq *[nComp]float64, limit float64) float64 {
	n := float64(st.nOnline)
	var s float64
	cut := !math.IsInf(limit, 1)
	if cut {
		// partial sums only grow when every later term is non-negative
		for k := nStd; k < nComp; k++ {
			if !(sum[k] >= 0) {
				cut = false
			}
		}
	}
	for k := range nStd {
		c := 0.0
		if n != 0 {
			mean := sum[k] / n
			v := sq[k]/n - mean*mean
			if v < 0 {
				v = 0
			}
			c = math.Sqrt(v)
		}
		s += weights[k] * c
		if cut && s > limit {
			return s
		}
	}
	for k := nStd; k < nComp; k++ {
		s += weights[k] * sum[k]
	}
	return s
}

// Score returns the snapshot's cluster score (lower is better).
func (c *Cluster) Score() float64 { return newState(c, nil).score() }

// ScoreBreakdown returns each component of the score, unweighted, by name,
// with its weight.
func (c *Cluster) ScoreBreakdown() []ScoreComponent {
	vals := newState(c, nil).components()
	out := make([]ScoreComponent, nComp)
	for k := range nComp {
		out[k] = ScoreComponent{Name: componentNames[k], Value: vals[k], Weight: weights[k]}
	}
	return out
}

// ScoreComponent is one term of the cluster score.
type ScoreComponent struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Weight float64 `json:"weight"`
}

// scoreAdd is scoreUntil of the sums (sum, sq) with one node's values old
// replaced by nv (addValues on copies), without copying them: the same
// operations in the same order, so the same bits.
func (st *state) scoreAdd(sum, sq, nv, old *[nComp]float64, limit float64) float64 {
	n := float64(st.nOnline)
	var s float64
	cut := !math.IsInf(limit, 1)
	if cut {
		for k := nStd; k < nComp; k++ {
			if !(sum[k]+(nv[k]-old[k]) >= 0) {
				cut = false
			}
		}
	}
	for k := range nStd {
		c := 0.0
		if n != 0 {
			o, v := old[k], nv[k]
			sk := sum[k] + (v - o)
			qk := sq[k] + (v*v - o*o)
			mean := sk / n
			vr := qk/n - mean*mean
			if vr < 0 {
				vr = 0
			}
			c = math.Sqrt(vr)
		}
		s += weights[k] * c
		if cut && s > limit {
			return s
		}
	}
	for k := nStd; k < nComp; k++ {
		s += weights[k] * (sum[k] + (nv[k] - old[k]))
	}
	return s
}
