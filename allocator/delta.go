package allocator

import (
	"math"
	"slices"
)

// Delta evaluation: the score after a move computed from the loads the move
// would leave on the touched nodes, without placing the instance. It gives
// bit for bit the score of placedScore (same values, same order of sums) and
// is used where a search scores many moves and checks the filters only for
// the few that beat its bound.

// deltaOK reports whether instance i's moves can be scored by delta: its
// exclusion tags and the cluster's location tags change counters that only
// a real placement tracks.
func (st *state) deltaOK(i int) bool {
	return len(st.iexcl[i]) == 0 && len(st.locationPrefixs) == 0 && st.inst[i].Mem >= 0
}

// movedLoad returns node n's load once instance i went from (op, os) to (p, s).
func (st *state) movedLoad(n, i, op, os, p, s int) load {
	in := &st.inst[i]
	l := st.loadOf(n)
	mem, disk := usesMemory(in.RunState), in.Template.usesLocalDisk()
	if n == op {
		if mem {
			l.fMem += in.Mem
		}
		if disk {
			l.fDsk += in.Disk
		}
		l.uCpu -= in.VCPUs
		l.pCnt--
		l.spn -= in.SpindleUse
	}
	if n == os {
		if disk {
			l.fDsk += in.Disk
		}
		l.sCnt--
		l.spn -= in.SpindleUse
	}
	if n == p {
		if mem {
			l.fMem -= in.Mem
		}
		if disk {
			l.fDsk -= in.Disk
		}
		l.uCpu += in.VCPUs
		l.pCnt++
		l.spn += in.SpindleUse
	}
	if n == s {
		if disk {
			l.fDsk -= in.Disk
		}
		l.sCnt++
		l.spn += in.SpindleUse
	}
	if st.usesSecMem(in) && ((n == os && op >= 0) || (n == s && p >= 0)) {
		l.rMem = st.reservedAfter(n, in.Mem, op, os, p, s)
	}
	return l
}

// reservedAfter is node n's reserved memory (its largest peer) once a
// mirrored instance of mem MiB went from (op, os) to (p, s).
func (st *state) reservedAfter(n int, mem int64, op, os, p, s int) int64 {
	dec, inc := -1, -1
	if n == os && op >= 0 {
		dec = op
	}
	if n == s && p >= 0 {
		inc = p
	}
	r := st.rMem[n]
	if dec == inc {
		return r
	}
	row := st.peers[n*st.nn : (n+1)*st.nn]
	var incVal int64
	if inc >= 0 {
		incVal = row[inc] + mem
	}
	if dec < 0 || row[dec] != r || mem == 0 {
		return max(r, incVal)
	}
	// the largest peer shrinks: find the new largest
	m := incVal
	for _, q := range st.peerList[n] {
		if int(q) == dec {
			m = max(m, row[q]-mem)
		} else if int(q) != inc {
			m = max(m, row[q])
		}
	}
	return max(m, 0)
}

// movedScore is the cluster score once instance i went to (p, s).
func (st *state) movedScore(i, p, s int) float64 { return st.movedScoreUntil(i, p, s, math.Inf(1)) }

// movedScoreUntil is movedScore that may stop once the score is above
// limit (scoreUntil).
func (st *state) movedScoreUntil(i, p, s int, limit float64) float64 {
	op, os := st.ipri[i], st.isec[i]
	sum, sq := st.sum, st.sq
	var touched [4]int
	nt := 0
	for _, n := range [4]int{op, os, p, s} {
		if n < 0 || slices.Contains(touched[:nt], n) {
			continue
		}
		touched[nt] = n
		nt++
		l := st.movedLoad(n, i, op, os, p, s)
		nv, old := st.valuesOf(n, &l), &st.vals[n]
		addValues(&sum, &sq, &nv, old)
	}
	return st.scoreUntil(&sum, &sq, limit)
}

// addValues replaces a node's old values by nv in the sums.
func addValues(sum, sq *[nComp]float64, nv, old *[nComp]float64) {
	for k := range nStd {
		o, v := old[k], nv[k]
		sum[k] += v - o
		sq[k] += v*v - o*o
	}
	for k := nStd; k < nComp; k++ {
		sum[k] += nv[k] - old[k]
	}
}

// checkMove places instance i on (p, s) for a moment and runs the filters.
func (st *state) checkMove(i, p, s int) *Rejection {
	op, os := st.ipri[i], st.isec[i]
	st.unplace(i)
	st.place(i, p, s)
	st.prevP, st.prevS = op, os
	rej := st.checkAll(i, p, s, op, os)
	st.unplace(i)
	st.place(i, op, os)
	return rej
}

// moveScorer scores the one-move placements of one instance from (P, S)
// (hbal's r, f r, r f and f r f towards a node n): what P and S become in
// each kind of move does not depend on n and is computed once, so each move
// costs the new values of n and the score. The sums are added in
// movedScore's order (P, S, n), so scores are bit for bit movedScore's.
type moveScorer struct {
	st    *state
	i     int
	P, S  int
	fast  bool
	moves bool // the filters are moveFilters(): checked by fits
	mem   int64
	sec   bool // the instance's memory is reserved on its secondary
	psVals
	rMinusS int64 // S's reserved memory without this instance
	// sums after P and S: r (P unchanged, S loses), f r (P loses, S primary),
	// r f when P's reserved memory stays, f r f when S's stays; after P alone
	sumR, sqR, sumFR, sqFR, sumRF, sqRF, sumFRF, sqFRF, sumP, sqP [nComp]float64
	// node n: its loads as new secondary of P or S, and as new primary
	n                            int
	nPri, nSecP, nSecS           [nComp]float64
	haveNPri, haveSecP, haveSecS bool
	// lower bounds per move kind of the terms n does not change (bound.go)
	lbOK         [nKinds]bool
	lbFix, lbTol [nKinds]float64
	lbGen        uint64
	bounded      bool // the caller took the bound already (boundMask)
}

// psVals are what P and S become in each kind of move: they depend on the
// loads of P and S only, so the exact search keeps them per instance
// (state.psCache) while neither node changed (state.nodeGen).
type psVals struct {
	// loads of P and S by kind; P is unchanged by r, S keeps its role in f r f
	pLose, sLose, sPri, pSec     load
	vPLose, vSLose, vSPri, vPSec [nComp]float64 // vPSec: pSec with P's reserve as now
	vFP, vFS                     [nComp]float64 // failover: P secondary, S primary
}

// psEntry is one instance's psVals, for P and S at generations gP and gS.
type psEntry struct {
	psVals
	P, S, gP, gS int
	ok           bool
}

// scorer prepares a moveScorer for instance i; ms is reused when not nil.
func (st *state) scorer(ms *moveScorer, i int) *moveScorer {
	if ms == nil {
		ms = &moveScorer{}
	}
	P, S := st.ipri[i], st.isec[i]
	// every array below is written before it is read: reset the rest only
	ms.st, ms.i, ms.P, ms.S, ms.n, ms.fast, ms.moves = st, i, P, S, -1, false, false
	ms.haveNPri, ms.haveSecP, ms.haveSecS = false, false, false
	ms.lbOK = [nKinds]bool{}
	if P < 0 || S < 0 || P == S || !st.deltaOK(i) {
		return ms
	}
	ms.fast, ms.moves = true, st.movesOnly()
	in := &st.inst[i]
	ms.mem, ms.sec = in.Mem, st.usesSecMem(in)
	if c := st.psCache; c != nil && c[i].ok && c[i].P == P && c[i].S == S && c[i].gP == st.nodeGen[P] && c[i].gS == st.nodeGen[S] {
		ms.psVals = c[i].psVals
	} else {
		// P leaves as primary; S leaves as secondary; S becomes primary; P becomes secondary
		ms.pLose = st.movedLoad(P, i, P, S, S, -1) // P only loses its primary role here
		ms.sLose = st.movedLoad(S, i, P, S, P, -1) // S only loses its secondary role here
		ms.sPri = st.movedLoad(S, i, P, S, S, -1)
		ms.pSec = st.movedLoad(P, i, P, S, -1, P) // P's reserved memory is set per n
		ms.vPLose, ms.vSLose, ms.vSPri = st.valuesOf(P, &ms.pLose), st.valuesOf(S, &ms.sLose), st.valuesOf(S, &ms.sPri)
		pSec := ms.pSec
		pSec.rMem = st.rMem[P]
		ms.vPSec = st.valuesOf(P, &pSec)
		lp, ls := st.movedLoad(P, i, P, S, S, P), st.movedLoad(S, i, P, S, S, P)
		ms.vFP, ms.vFS = st.valuesOf(P, &lp), st.valuesOf(S, &ls)
		if c := st.psCache; c != nil {
			c[i] = psEntry{psVals: ms.psVals, P: P, S: S, gP: st.nodeGen[P], gS: st.nodeGen[S], ok: true}
		}
	}
	ms.rMinusS = ms.sLose.rMem
	ms.sumR, ms.sqR = st.sum, st.sq
	addValues(&ms.sumR, &ms.sqR, &st.vals[P], &st.vals[P])
	addValues(&ms.sumR, &ms.sqR, &ms.vSLose, &st.vals[S])
	ms.sumP, ms.sqP = st.sum, st.sq
	addValues(&ms.sumP, &ms.sqP, &ms.vPLose, &st.vals[P])
	ms.sumFRF, ms.sqFRF = ms.sumP, ms.sqP
	addValues(&ms.sumFRF, &ms.sqFRF, &st.vals[S], &st.vals[S])
	ms.sumFR, ms.sqFR = ms.sumP, ms.sqP
	addValues(&ms.sumFR, &ms.sqFR, &ms.vSPri, &st.vals[S])
	// r f with P's reserved memory unchanged
	ms.sumRF, ms.sqRF = st.sum, st.sq
	addValues(&ms.sumRF, &ms.sqRF, &ms.vPSec, &st.vals[P])
	addValues(&ms.sumRF, &ms.sqRF, &ms.vSLose, &st.vals[S])
	ms.prepBound()
	return ms
}

// kindOf classifies the move to (p, s) as one of the kinds with precomputed
// sums (kindR...kindFRF), with the node n it brings in and, for kindR and
// kindFR, the primary q that n becomes the secondary of; kd is -1 for other
// moves (failover, two new nodes, r f or f r f that change the reserve of
// the node staying secondary).
func (ms *moveScorer) kindOf(p, s int) (kd, n, q int) {
	st := ms.st
	P, S := ms.P, ms.S
	if !ms.fast || p == s || (p == S && s == P) {
		return -1, -1, -1
	}
	switch {
	case p == P && s != S:
		return kindR, s, P
	case p == S:
		return kindFR, s, S
	case s == P && p != S:
		r := st.rMem[P]
		if ms.sec {
			r = max(r, st.peers[P*st.nn+p]+ms.mem)
		}
		if r == st.rMem[P] {
			return kindRF, p, -1
		}
		return -1, p, -1
	case s == S && p != P:
		r := st.rMem[S]
		if ms.sec {
			r = max(ms.rMinusS, st.peers[S*st.nn+p]+ms.mem)
		}
		if r == st.rMem[S] {
			return kindFRF, p, -1
		}
		return -1, p, -1
	}
	return -1, -1, -1
}

// score returns the score of moving the instance to (p, s), stopping early
// once it is above limit (see scoreUntil); a move whose lower bound is above
// limit (bound.go) gets +Inf without being scored.
func (ms *moveScorer) score(p, s int, limit float64) float64 {
	st := ms.st
	P, S := ms.P, ms.S
	if ms.fast && p == S && s == P { // failover: movedScoreUntil's sums, P then S
		sum, sq := st.sum, st.sq
		addValues(&sum, &sq, &ms.vFP, &st.vals[P])
		addValues(&sum, &sq, &ms.vFS, &st.vals[S])
		return st.scoreUntil(&sum, &sq, limit)
	}
	kd, n, q := ms.kindOf(p, s)
	if n < 0 {
		return st.movedScoreUntil(ms.i, p, s, limit)
	}
	if n != ms.n {
		ms.n, ms.haveNPri, ms.haveSecP, ms.haveSecS = n, false, false, false
	}
	if kd >= 0 && !ms.bounded && limit < math.Inf(1) && ms.boundAbove(kd, n, q, limit) {
		return math.Inf(1)
	}
	switch kd {
	case kindR: // n becomes the secondary of P
		return st.scoreAdd(&ms.sumR, &ms.sqR, ms.nodeSec(n, P, &ms.nSecP, &ms.haveSecP), &st.vals[n], limit)
	case kindFR: // f r: n becomes the secondary of S
		return st.scoreAdd(&ms.sumFR, &ms.sqFR, ms.nodeSec(n, S, &ms.nSecS, &ms.haveSecS), &st.vals[n], limit)
	case kindRF: // r f: n primary, P its secondary, P's reserve unchanged
		return st.scoreAdd(&ms.sumRF, &ms.sqRF, ms.nodePri(n), &st.vals[n], limit)
	case kindFRF: // f r f: n primary, S stays secondary, its reserve unchanged
		return st.scoreAdd(&ms.sumFRF, &ms.sqFRF, ms.nodePri(n), &st.vals[n], limit)
	}
	// r f or f r f changing the reserve of the node that stays secondary
	var sum, sq [nComp]float64
	if s == P {
		sum, sq = st.sum, st.sq
		l := ms.pSec
		l.rMem = max(st.rMem[P], st.peers[P*st.nn+n]+ms.mem)
		v := st.valuesOf(P, &l)
		addValues(&sum, &sq, &v, &st.vals[P])
		addValues(&sum, &sq, &ms.vSLose, &st.vals[S])
	} else {
		sum, sq = ms.sumP, ms.sqP
		l := st.loadOf(S)
		l.rMem = max(ms.rMinusS, st.peers[S*st.nn+n]+ms.mem)
		v := st.valuesOf(S, &l)
		addValues(&sum, &sq, &v, &st.vals[S])
	}
	addValues(&sum, &sq, ms.nodePri(n), &st.vals[n])
	return st.scoreUntil(&sum, &sq, limit)
}

// nodeSec returns node n's values as the new secondary of primary q.
func (ms *moveScorer) nodeSec(n, q int, v *[nComp]float64, have *bool) *[nComp]float64 {
	if !*have {
		st := ms.st
		in := &st.inst[ms.i]
		l := st.loadOf(n)
		if in.Template.usesLocalDisk() {
			l.fDsk -= in.Disk
		}
		l.sCnt++
		l.spn += in.SpindleUse
		if ms.sec {
			l.rMem = max(l.rMem, st.peers[n*st.nn+q]+ms.mem)
		}
		*v, *have = st.valuesOf(n, &l), true
	}
	return v
}

// nodePri returns node n's values as the new primary.
func (ms *moveScorer) nodePri(n int) *[nComp]float64 {
	if !ms.haveNPri {
		l := ms.st.movedLoad(n, ms.i, ms.P, ms.S, n, ms.S) // n's own load: only its primary role changes
		ms.nPri, ms.haveNPri = ms.st.valuesOf(n, &l), true
	}
	return &ms.nPri
}

// evalBelow is state.evalBelow through the scorer.
func (ms *moveScorer) evalBelow(p, s int, bound float64, bounded bool) (float64, bool) {
	st := ms.st
	if !ms.fast {
		return st.evalBelow(ms.i, p, s, bound, bounded)
	}
	limit := math.Inf(1)
	if bounded {
		limit = bound
	}
	sc := ms.score(p, s, limit)
	if bounded && !(sc < bound) {
		return sc, false
	}
	if ms.moves {
		return sc, st.fits(ms.i, p, s)
	}
	return sc, st.checkMove(ms.i, p, s) == nil
}

// pairScorer scores the placements (p, s) of an unplaced instance, as
// Allocate pairs primaries and secondaries: a node's values as the new
// primary, and as the new secondary while its reserved memory stays, are
// computed once per node. Sums go in movedScore's order (p, then s).
type pairScorer struct {
	st             *state
	i              int
	sec            bool
	mem            int64
	sumP, sqP      [][nComp]float64
	vSec           [][nComp]float64
	haveP, haveSec []uint32 // == gen: computed for this instance
	gen            uint32
}

// pairs returns the state's pairScorer, set up for the unplaced instance i,
// or nil when the delta path does not apply. Its per-node arrays are kept
// from one call to the next (Capacity calls it once per new instance).
func (st *state) pairs(i int) *pairScorer {
	if st.ipri[i] >= 0 || st.isec[i] >= 0 || !st.deltaOK(i) {
		return nil
	}
	ps := st.pairCache
	if ps == nil {
		ps = &pairScorer{st: st, sumP: make([][nComp]float64, st.nn), sqP: make([][nComp]float64, st.nn),
			vSec: make([][nComp]float64, st.nn), haveP: make([]uint32, st.nn), haveSec: make([]uint32, st.nn)}
		st.pairCache = ps
	}
	in := &st.inst[i]
	ps.i, ps.sec, ps.mem = i, st.usesSecMem(in), in.Mem
	if ps.gen++; ps.gen == 0 { // wrapped: forget every stamp
		clear(ps.haveP)
		clear(ps.haveSec)
		ps.gen = 1
	}
	return ps
}

func (ps *pairScorer) score(p, s int, limit float64) float64 {
	st := ps.st
	if ps.haveP[p] != ps.gen {
		l := st.movedLoad(p, ps.i, -1, -1, p, -1)
		v := st.valuesOf(p, &l)
		ps.sumP[p], ps.sqP[p] = st.sum, st.sq
		addValues(&ps.sumP[p], &ps.sqP[p], &v, &st.vals[p])
		ps.haveP[p] = ps.gen
	}
	sum, sq := ps.sumP[p], ps.sqP[p]
	if ps.sec && st.peers[s*st.nn+p]+ps.mem > st.rMem[s] {
		l := st.movedLoad(s, ps.i, -1, -1, p, s)
		v := st.valuesOf(s, &l)
		addValues(&sum, &sq, &v, &st.vals[s])
	} else {
		if ps.haveSec[s] != ps.gen {
			l := st.movedLoad(s, ps.i, -1, -1, -1, s) // rMem unchanged
			ps.vSec[s], ps.haveSec[s] = st.valuesOf(s, &l), ps.gen
		}
		addValues(&sum, &sq, &ps.vSec[s], &st.vals[s])
	}
	return st.scoreUntil(&sum, &sq, limit)
}

// evalAtMost is state.evalAtMost through the pair scorer (ps may be nil).
func (ps *pairScorer) evalAtMost(st *state, i, p, s int, bound float64, bounded bool) (float64, bool) {
	if ps == nil || p < 0 || s < 0 || p == s {
		return st.evalAtMost(i, p, s, bound, bounded)
	}
	limit := math.Inf(1)
	if bounded {
		limit = bound
	}
	sc := ps.score(p, s, limit)
	if bounded && !(sc < bound || sc == bound) {
		return sc, false
	}
	return sc, st.checkMove(i, p, s) == nil
}

// movesOnly reports whether the state's filters are exactly moveFilters(),
// which fits can check from loads (fits).
func (st *state) movesOnly() bool {
	if len(st.filter) != 7 {
		return false
	}
	for k, f := range st.filter {
		var ok bool
		switch k {
		case 0:
			_, ok = f.(nodeStateFilter)
		case 1:
			_, ok = f.(memoryFilter)
		case 2:
			_, ok = f.(diskFilter)
		case 3:
			_, ok = f.(vcpuFilter)
		case 4:
			_, ok = f.(exclusionFilter)
		case 5:
			_, ok = f.(locationFilter)
		case 6:
			_, ok = f.(n1Filter)
		}
		if !ok {
			return false
		}
	}
	return true
}

// fits reports whether moving instance i to (p, s) passes moveFilters(),
// judged from the loads the move leaves, without placing it. It holds for
// instances deltaOK takes: their moves change no tag counters, so the
// exclusion and location filters pass.
func (st *state) fits(i, p, s int) bool {
	op, os := st.ipri[i], st.isec[i]
	in := &st.inst[i]
	for _, n := range [2]int{p, s} {
		if n < 0 {
			continue
		}
		held := n == op || n == os
		if !held && (st.offline[n] || st.drain[n] || st.unalloc[n]) {
			return false
		}
		l := st.movedLoad(n, i, op, os, p, s)
		if n == p && n != op {
			if usesMemory(in.RunState) && l.fMem < 0 {
				return false
			}
			if st.vcpuRatio[n] > 0 && float64(l.uCpu) > st.vcpuRatio[n]*st.tCpu[n] {
				return false
			}
		}
		if !held && in.Template.usesLocalDisk() && l.fDsk < 0 {
			return false
		}
		if l.rMem > 0 && l.fMem < l.rMem && !st.failN1(n) {
			return false
		}
	}
	return true
}
