package allocator

import "math"

// A lower bound of every move of one kind of one instance at once, over all
// target nodes, so that the exact search can skip whole kinds without
// looking at each node. For a spread term whose value at the target node n
// goes from o_n to o_n + δ_n, with δ_n = a·inv_n (a the instance's amount,
// inv_n the node's 1/capacity, 1 for counts), the variance of the kind's
// sums (mean μ, variance V, N online nodes) becomes
//
//	V + 2δ_n(o_n - μ)/N + δ_n²(N-1)/N²
//
// and each part is bounded over all online nodes from a few per-node
// extremes (nodeAgg): min and max of inv·o, of inv, and min of inv². The
// reserved memory of a new secondary grows by 0 to mem·inv_n, so its part is
// at least min(0, -(μ - min o)²/(N-1)). The square root is then bounded as in
// bound.go, whose bound grows with d, and the N+1 count by -max over nodes.

// nodeAgg holds those extremes for the node values of generation gen.
type nodeAgg struct {
	gen                                   uint64
	minIO, maxIO, minInv, maxInv, minInv2 [nStd]float64
	minO                                  [nStd]float64
	maxN1                                 float64
}

// invOf is node n's 1/capacity in spread term k (1 for the counts).
func (st *state) invOf(n, k int) float64 {
	switch k {
	case cFreeMem, cResMem:
		return st.inv[n][0]
	case cFreeDisk:
		return st.inv[n][1]
	case cVCPU:
		return st.inv[n][2]
	case cSpindle:
		return st.inv[n][3]
	}
	return 1
}

// aggNow returns the extremes of the current node values.
func (st *state) aggNow() *nodeAgg {
	a := &st.agg
	if a.gen == st.sumsGen {
		return a
	}
	a.gen = st.sumsGen
	inf := math.Inf(1)
	for k := range nStd {
		a.minIO[k], a.maxIO[k], a.minInv[k], a.maxInv[k], a.minInv2[k], a.minO[k] = inf, -inf, inf, -inf, inf, inf
	}
	a.maxN1 = 0
	for n := range st.nn {
		if st.down(n) {
			continue
		}
		v := &st.vals[n]
		for k := range nStd {
			inv := st.invOf(n, k)
			io := inv * v[k]
			a.minIO[k], a.maxIO[k] = min(a.minIO[k], io), max(a.maxIO[k], io)
			a.minInv[k], a.maxInv[k], a.minInv2[k] = min(a.minInv[k], inv), max(a.maxInv[k], inv), min(a.minInv2[k], inv*inv)
			a.minO[k] = min(a.minO[k], v[k])
		}
		a.maxN1 = max(a.maxN1, v[sN1])
	}
	return a
}

// kindCuts returns the move kinds (bit kd) whose every move towards an
// online node certainly scores above limit. For kindRF and kindFRF it
// speaks only of the targets kindOf gives that kind.
func (ms *moveScorer) kindCuts(limit float64) (mask uint8) {
	st := ms.st
	if !ms.fast || math.IsInf(limit, 1) || ms.lbGen != st.sumsGen || st.nOnline < 2 {
		return 0
	}
	b, a := &st.lb, st.aggNow()
	in := &st.inst[ms.i]
	N := float64(st.nOnline)
	var disk, mem float64
	if in.Template.usesLocalDisk() {
		disk = -float64(in.Disk)
	}
	if usesMemory(in.RunState) {
		mem = -float64(in.Mem)
	}
	var aSec, aPri [nStd]float64
	aSec[cFreeDisk], aSec[cSpindle], aSec[cLoadDisk] = disk, float64(in.SpindleUse), 1
	aPri[cFreeMem], aPri[cFreeDisk], aPri[cVCPU] = mem, disk, float64(in.VCPUs)
	aPri[cSpindle], aPri[cLoadPri], aPri[cLoadDisk] = float64(in.SpindleUse), 1, 1
	for kd := range nKinds {
		if !ms.lbOK[kd] {
			continue
		}
		sum, sq := ms.kindSums(kd)
		s, tol := ms.lbFix[kd]-weights[sN1]*a.maxN1, ms.lbTol[kd]
		ks, amt := priTerms[:], &aPri
		if kd < kindRF {
			ks, amt = secTerms[:], &aSec
		}
		for _, k := range ks {
			mu := sum[k] * b.invN
			A := sq[k] * b.invN
			var f float64
			switch am := amt[k]; {
			case k == cResMem:
				if ms.sec && a.minO[k] < mu {
					f = -(mu - a.minO[k]) * (mu - a.minO[k]) / (N - 1)
				}
			case am > 0:
				inv := a.maxInv[k]
				if mu < 0 {
					inv = a.minInv[k]
				}
				f = 2*am/N*(a.minIO[k]-mu*inv) + am*am*(N-1)/(N*N)*a.minInv2[k]
			case am < 0:
				inv := a.minInv[k]
				if mu < 0 {
					inv = a.maxInv[k]
				}
				f = 2*am/N*(a.maxIO[k]-mu*inv) + am*am*(N-1)/(N*N)*a.minInv2[k]
			}
			d, cv := b.curve(k, (A-mu*mu)+f-b.v[k])
			s += b.wr[k] + d*b.wa[k] - d*d*cv
			tol += 4 * b.tk[k] * (math.Abs(A) + math.Abs(f) + mu*mu + 1)
		}
		if s-tol-b.tolR-lbEps*(math.Abs(s)+math.Abs(limit)) > limit {
			mask |= 1 << kd
		}
	}
	return mask
}
