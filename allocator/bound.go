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
// 1/(1-x) <= 1+2x for 0 <= x <= 1/2); the bound takes the one of d's sign,
// d clamped to [-v, 2v] (curve). It computes v' with 1/n instead of /n and
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
	d, cv := b.curve(k, d)
	return b.wr[k] + d*b.wa[k] - d*d*cv, b.tk[k] * (A + B), true
}

// curve returns d, clamped to [-v, 2v], and the coefficient of d² in the
// bound of term k: w/(2r³) for d < 0, w/(8r³) for d >= 0. The square root
// grows with d, so the bound at the clamp holds beyond it (at 2v the d >= 0
// bound is at its top, 1.5 r; below -v, v' < 0 is rounding and the bound 0
// holds); on [-v, 2v] the bound's slope in d stays within w/(2r), as the
// tolerance assumes.
func (b *bounds) curve(k int, d float64) (float64, float64) {
	if d < 0 {
		return max(d, -b.vLim[k]), b.wb[k]
	}
	return min(d, 2*b.vLim[k]), 0.25 * b.wb[k]
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
	if !ms.boundable(kd, n) {
		return false
	}
	var nv nodeBound
	if kd < kindRF {
		ms.secBound(n, q, &nv)
	} else {
		ms.priBound(n, &nv)
	}
	return ms.boundKind(kd, n, &nv, limit)
}

// boundable reports whether the bound of kind kd holds for the current sums.
func (ms *moveScorer) boundable(kd, n int) bool {
	return ms.lbOK[kd] && ms.lbGen == ms.st.sumsGen && !ms.st.down(n)
}

// nodeBound is node n's new values in the terms it changes (secTerms or
// priTerms), its new N+1 count and, as a secondary, its reserve term.
type nodeBound struct {
	xs      [len(priTerms)]float64
	n1, res float64
	sec     bool
}

// secBound fills node n's values as the new secondary of primary q.
func (ms *moveScorer) secBound(n, q int, nv *nodeBound) {
	st := ms.st
	in := &st.inst[ms.i]
	fDsk := st.fDsk[n]
	if in.Template.usesLocalDisk() {
		fDsk -= in.Disk
	}
	spn := st.spn[n] + in.SpindleUse
	sCnt := st.sCnt[n] + 1
	rMem := st.rMem[n]
	if ms.sec {
		rMem = max(rMem, st.peers[n*st.nn+q]+ms.mem)
	}
	inv := &st.inv[n]
	rem := float64(rMem) * inv[0]
	nv.sec = true
	nv.xs[0], nv.xs[1], nv.xs[2], nv.xs[3] = float64(fDsk)*inv[1], float64(spn)*inv[3], rem, float64(st.pCnt[n]+sCnt)
	nv.n1 = 0
	if rMem > 0 && st.fMem[n] < rMem {
		nv.n1 = float64(st.pCnt[n] + sCnt)
	}
	nv.res = weights[sResMem] * (rem - st.vals[n][sResMem])
}

// priBound fills node n's values as the new primary.
func (ms *moveScorer) priBound(n int, nv *nodeBound) {
	st := ms.st
	in := &st.inst[ms.i]
	fDsk := st.fDsk[n]
	if in.Template.usesLocalDisk() {
		fDsk -= in.Disk
	}
	spn := st.spn[n] + in.SpindleUse
	fMem := st.fMem[n]
	if usesMemory(in.RunState) {
		fMem -= in.Mem
	}
	pCnt := st.pCnt[n] + 1
	inv := &st.inv[n]
	nv.sec = false
	nv.xs[0], nv.xs[1], nv.xs[2] = float64(fMem)*inv[0], float64(fDsk)*inv[1], float64(st.uCpu[n]+in.VCPUs)*inv[2]
	nv.xs[3], nv.xs[4], nv.xs[5] = float64(spn)*inv[3], float64(pCnt), float64(pCnt+st.sCnt[n])
	nv.n1, nv.res = 0, 0
	if r := st.rMem[n]; r > 0 && fMem < r {
		nv.n1 = float64(pCnt + st.sCnt[n])
	}
}

// boundKind is boundAbove for node values already computed.
func (ms *moveScorer) boundKind(kd, n int, nv *nodeBound, limit float64) bool {
	st := ms.st
	b := &st.lb
	sum, sq := ms.kindSums(kd)
	old := &st.vals[n]
	s, tol := ms.lbFix[kd], ms.lbTol[kd]
	ks := priTerms[:]
	if nv.sec {
		ks = secTerms[:]
		s += nv.res
	}
	for t, k := range ks { // b.term, inlined
		o, x := old[k], nv.xs[t]
		mean := (sum[k] + (x - o)) * b.invN
		A, B := (sq[k]+(x*x-o*o))*b.invN, mean*mean
		d := (A - B) - b.v[k]
		d, c := b.curve(k, d)
		s += b.wr[k] + d*b.wa[k] - d*d*c
		tol += b.tk[k] * (A + B)
	}
	s += weights[sN1] * (nv.n1 - old[sN1])
	return s-tol-b.tolR-lbEps*(math.Abs(s)+math.Abs(limit)) > limit
}

// boundMask returns which of the four moves towards node n ((P, n), (S, n),
// (n, P), (n, S): bits 0-3) certainly score above limit, sharing node n's
// values between the kinds.
//
// kinds are the kinds already known to be above limit (kindCuts): their
// moves are reported without their own bound.
func (ms *moveScorer) boundMask(n int, limit float64, kinds uint8) (mask uint8) {
	if !ms.fast || math.IsInf(limit, 1) || ms.st.down(n) || ms.lbGen != ms.st.sumsGen {
		return 0
	}
	mask = kinds & 3
	var nv nodeBound
	if mask&1 == 0 && ms.lbOK[kindR] {
		ms.secBound(n, ms.P, &nv)
		if ms.boundKind(kindR, n, &nv, limit) {
			mask |= 1
		}
	}
	if mask&2 == 0 && ms.lbOK[kindFR] {
		ms.secBound(n, ms.S, &nv)
		if ms.boundKind(kindFR, n, &nv, limit) {
			mask |= 2
		}
	}
	kRF, _, _ := ms.kindOf(n, ms.P)
	kFRF, _, _ := ms.kindOf(n, ms.S)
	if kRF == kindRF && kinds&4 != 0 {
		mask |= 4
	}
	if kFRF == kindFRF && kinds&8 != 0 {
		mask |= 8
	}
	if (mask&4 == 0 && kRF == kindRF && ms.lbOK[kindRF]) || (mask&8 == 0 && kFRF == kindFRF && ms.lbOK[kindFRF]) {
		ms.priBound(n, &nv)
		if mask&4 == 0 && kRF == kindRF && ms.lbOK[kindRF] && ms.boundKind(kindRF, n, &nv, limit) {
			mask |= 4
		}
		if mask&8 == 0 && kFRF == kindFRF && ms.lbOK[kindFRF] && ms.boundKind(kindFRF, n, &nv, limit) {
			mask |= 8
		}
	}
	return mask
}
