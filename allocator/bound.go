package allocator

import "math"

// A lower bound of a score without divisions or square roots, so that a
// search can skip the moves that certainly score above its limit (on the
// 2-core test machine the 14 divisions and 7 square roots of an exact score
// take about 95 ns, the bound about 15). Each spread term is sqrt(v') where
// v' is the variance after the move; with v the variance now, r = sqrt(v)
// and d = v' - v, as sqrt is concave with a positive third derivative,
//
//	sqrt(v+d) >= r + d/(2r) - d²/(8r³)   for d >= 0 (Taylor; the remainder is >= 0)
//	sqrt(v+d) >= r + d/(2r) - d²/(2r³)   for -v <= d < 0
//
// (the second from sqrt(v') >= v'/r on [0, v], the chord of sqrt, and
// 1/(1-x) <= 1+2x for 0 <= x <= 1/2); the bound uses the second for both
// signs (it is the lower one). It computes v' with 1/n instead of /n and
// subtracts a tolerance far above the rounding of both ways, so a move is
// skipped only when its exact score, as scoreUntil computes it, is above
// the limit: every search returns what it returned without the bound.
// TestBoundBelowScore checks it on random clusters.

// bounds holds, for the sums of generation gen, per spread term: v (or +Inf
// when v is 0: the term is then taken as >= 0), w·r, w/(2r), w/(2r³) and the
// tolerance factor.
type bounds struct {
	gen            uint64
	ok             bool
	invN, tolR     float64
	vLim, v        [nStd]float64
	wr, wa, wb, tk [nStd]float64
}

// lbEps is the relative rounding error the tolerance allows for, per
// operation: 100 times float64's.
const lbEps = 100 * 0x1p-53

// boundsNow returns the bound coefficients for the current sums.
func (st *state) boundsNow() *bounds {
	b := &st.lb
	if b.gen != st.sumsGen {
		st.fillBounds()
	}
	return b
}

func (st *state) fillBounds() {
	b := &st.lb
	b.gen, b.ok = st.sumsGen, st.nOnline > 0
	if !b.ok {
		return
	}
	n := float64(st.nOnline)
	b.invN, b.tolR = 1/n, 0
	for k := range nStd {
		mean := st.sum[k] / n
		v := max(st.sq[k]/n-mean*mean, 0)
		r := math.Sqrt(v)
		w := weights[k]
		if r == 0 {
			b.v[k], b.vLim[k] = 0, math.Inf(1)
			b.wr[k], b.wa[k], b.wb[k], b.tk[k] = 0, 0, 0, 0
			continue
		}
		b.v[k], b.vLim[k] = v, v
		b.wr[k], b.wa[k], b.wb[k] = w*r, w/(2*r), w/(2*r*r*r)
		// the bound's slope in d is at most 3w/(2r) while |d| <= v; d is
		// off by at most a few ulps of A+B, in the bound and in scoreUntil
		b.tk[k] = 3 * b.wa[k] * 32 * lbEps
		b.tolR += w * r * lbEps
	}
}

// term is weight·(the bound of spread term k) for sums (s, q), the
// tolerance it needs, and whether the bound holds (|d| <= v).
func (b *bounds) term(k int, s, q float64) (c, tol float64, ok bool) {
	mean := s * b.invN
	A, B := q*b.invN, mean*mean
	d := (A - B) - b.v[k]
	return b.wr[k] + d*b.wa[k] - d*d*b.wb[k], b.tk[k] * (A + B), math.Abs(d) <= b.vLim[k]
}

// Move kinds of a moveScorer towards a node n.
const (
	kindR   = iota // r: n becomes the secondary of P
	kindFR         // f r: n becomes the secondary of S
	kindRF         // r f: n primary, P secondary (P's reserve unchanged)
	kindFRF        // f r f: n primary, S stays secondary (S's reserve unchanged)
	nKinds
)

// secTerms and priTerms are the spread terms node n's values change in when
// it becomes a secondary, or a primary; the other terms of a kind depend on
// the instance only and are bounded once per scorer (prepBound).
var (
	secTerms = [...]int{cFreeDisk, cSpindle, cResMem, cLoadDisk}
	priTerms = [...]int{cFreeMem, cFreeDisk, cVCPU, cSpindle, cLoadPri, cLoadDisk}
)

// kindSums returns the sums after P's and S's part of a move kind.
func (ms *moveScorer) kindSums(kd int) (sum, sq *[nComp]float64) {
	switch kd {
	case kindR:
		return &ms.sumR, &ms.sqR
	case kindFR:
		return &ms.sumFR, &ms.sqFR
	case kindRF:
		return &ms.sumRF, &ms.sqRF
	}
	return &ms.sumFRF, &ms.sqFRF
}

// prepBound bounds, per move kind, the terms node n does not change.
func (ms *moveScorer) prepBound() {
	st := ms.st
	b := st.boundsNow()
	if !b.ok {
		return
	}
	for kd := range nKinds {
		sum, sq := ms.kindSums(kd)
		var s, tol float64
		ok := true
		for k := range nStd {
			if kd < kindRF && (k == cFreeMem || k == cVCPU || k == cLoadPri) || kd >= kindRF && k == cResMem {
				c, t, v := b.term(k, sum[k], sq[k])
				s, tol, ok = s+c, tol+t, ok && v
			}
		}
		for k := nStd; k < nComp; k++ {
			s += weights[k] * sum[k]
		}
		ms.lbOK[kd], ms.lbFix[kd], ms.lbTol[kd] = ok, s, tol
	}
	ms.lbGen = st.sumsGen
}

// boundAbove reports whether the move of kind kd towards node n (q: the
// node n becomes the secondary of, for kindR and kindFR) certainly scores
// above limit. Node n's new values in the terms it changes are computed
// from its loads as nodeSec and nodePri do, without the load copy.
func (ms *moveScorer) boundAbove(kd, n, q int, limit float64) bool {
	st := ms.st
	if !ms.lbOK[kd] || ms.lbGen != st.sumsGen || st.down(n) {
		return false
	}
	b := &st.lb
	in := &st.inst[ms.i]
	sum, sq := ms.kindSums(kd)
	old := &st.vals[n]
	inv := &st.inv[n]
	s, tol := ms.lbFix[kd], ms.lbTol[kd]
	fDsk := st.fDsk[n]
	if in.Template.usesLocalDisk() {
		fDsk -= in.Disk
	}
	spn := st.spn[n] + in.SpindleUse
	var n1 float64
	var xs [len(priTerms)]float64 // n's new values in the terms of ks
	var ks []int
	if kd < kindRF {
		sCnt := st.sCnt[n] + 1
		rMem := st.rMem[n]
		if ms.sec {
			rMem = max(rMem, st.peers[n*st.nn+q]+ms.mem)
		}
		rem := float64(rMem) * inv[0]
		ks = secTerms[:]
		xs[0], xs[1], xs[2], xs[3] = float64(fDsk)*inv[1], float64(spn)*inv[3], rem, float64(st.pCnt[n]+sCnt)
		if rMem > 0 && st.fMem[n] < rMem {
			n1 = float64(st.pCnt[n] + sCnt)
		}
		s += weights[sResMem] * (rem - old[sResMem])
	} else {
		fMem := st.fMem[n]
		if usesMemory(in.RunState) {
			fMem -= in.Mem
		}
		pCnt := st.pCnt[n] + 1
		ks = priTerms[:]
		xs[0], xs[1], xs[2] = float64(fMem)*inv[0], float64(fDsk)*inv[1], float64(st.uCpu[n]+in.VCPUs)*inv[2]
		xs[3], xs[4], xs[5] = float64(spn)*inv[3], float64(pCnt), float64(pCnt+st.sCnt[n])
		if r := st.rMem[n]; r > 0 && fMem < r {
			n1 = float64(pCnt + st.sCnt[n])
		}
	}
	for t, k := range ks { // b.term, inlined
		o, x := old[k], xs[t]
		mean := (sum[k] + (x - o)) * b.invN
		A, B := (sq[k]+(x*x-o*o))*b.invN, mean*mean
		d := (A - B) - b.v[k]
		if math.Abs(d) > b.vLim[k] {
			return false
		}
		s += b.wr[k] + d*b.wa[k] - d*d*b.wb[k]
		tol += b.tk[k] * (A + B)
	}
	s += weights[sN1] * (n1 - old[sN1])
	return s-tol-b.tolR-lbEps*(math.Abs(s)+math.Abs(limit)) > limit
}
