package allocator

import (
	"fmt"
	"slices"
)

// Failure reasons of a capacity run, as hspace names them.
const (
	FailMem   = "FAILMEM"
	FailDisk  = "FAILDISK"
	FailCPU   = "FAILCPU"
	FailN1    = "FAILN1"
	FailTags  = "FAILTAGS"
	FailOther = "FAILOTHER"
)

// Shrink steps of tiered allocation, as htools uses them.
const (
	unitMem  = 64
	unitDisk = 256
	unitCPU  = 1
)

// CapacityRequest asks how many instances of a spec fit.
type CapacityRequest struct {
	Template DiskTemplate
	Mem      int64 // MiB
	Disk     int64 // MiB
	VCPUs    int
	// Tiered: when the spec no longer fits, shrink the resource that failed
	// and go on, down to the policy's minimum spec.
	Tiered bool
	// MaxInstances caps the count; 0 means no cap.
	MaxInstances int
}

// Tier is a run of identical instances.
type Tier struct {
	Mem        int64  `json:"mem"`
	Disk       int64  `json:"disk"`
	VCPUs      int    `json:"vcpus"`
	Count      int    `json:"count"`
	FailReason string `json:"fail_reason"`
}

// CapacityResult is the answer to Capacity.
type CapacityResult struct {
	Tiers        []Tier  `json:"tiers"`
	Total        int     `json:"total"`
	FailReason   string  `json:"fail_reason"`
	InitialScore float64 `json:"initial_score"`
	FinalScore   float64 `json:"final_score"`
	// FailCounts counts, for the last failed attempt, nodes rejected per reason.
	FailCounts map[string]int `json:"fail_counts"`
	Cluster    *Cluster       `json:"-"`
}

// Capacity allocates instances of the spec, each with the Allocate algorithm,
// until one no longer fits, and reports how many fit and why the next did not.
func (c *Cluster) Capacity(req CapacityRequest) (CapacityResult, error) {
	proto := AllocateRequest{Name: "capacity-probe", Mem: req.Mem, Disk: req.Disk, VCPUs: req.VCPUs, Template: req.Template}
	if _, err := proto.instance(); err != nil {
		return CapacityResult{}, err
	}
	st := newState(c, allocFilters())
	res := CapacityResult{InitialScore: st.score()}
	tier := Tier{Mem: req.Mem, Disk: req.Disk, VCPUs: req.VCPUs}
	seq := 0
	var cache capCache
	for {
		if req.MaxInstances > 0 && res.Total >= req.MaxInstances {
			tier.FailReason = "LIMIT"
			break
		}
		name := ""
		for name == "" || hasInst(c, name) {
			seq++
			name = fmt.Sprintf("new-%d", seq)
		}
		in, _ := AllocateRequest{Name: name, Mem: tier.Mem, Disk: tier.Disk, VCPUs: tier.VCPUs, Template: req.Template}.instance()
		a, err := cache.allocate(st, in)
		if err == nil {
			tier.Count++
			res.Total++
			continue
		}
		res.FailCounts = failCounts(a.Rejected)
		tier.FailReason = dominant(res.FailCounts)
		if !req.Tiered {
			break
		}
		next, ok := shrink(tier, c.spec.Policy, st, req.Template)
		if !ok {
			break
		}
		res.Tiers = appendTier(res.Tiers, tier)
		tier = next
	}
	res.Tiers = appendTier(res.Tiers, tier)
	res.FailReason = tier.FailReason
	st.recomputeStats()
	res.FinalScore = st.score()
	res.Cluster = st.snapshot()
	return res, nil
}

func hasInst(c *Cluster, name string) bool { _, ok := c.instIx[name]; return ok }

func appendTier(ts []Tier, t Tier) []Tier {
	if t.Count == 0 && len(ts) > 0 {
		return ts
	}
	return append(ts, t)
}

func failCounts(rej []Rejection) map[string]int {
	m := map[string]int{}
	for _, r := range rej {
		m[reasonCode(r.Filter)]++
	}
	return m
}

func reasonCode(filter string) string {
	switch filter {
	case memoryFilter{}.Name():
		return FailMem
	case diskFilter{}.Name():
		return FailDisk
	case vcpuFilter{}.Name():
		return FailCPU
	case n1Filter{}.Name():
		return FailN1
	case exclusionFilter{}.Name():
		return FailTags
	}
	return FailOther
}

// dominant returns the most common reason (ties broken by name).
func dominant(m map[string]int) string {
	best, n := FailN1, -1
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if m[k] > n {
			best, n = k, m[k]
		}
	}
	return best
}

// shrink returns the next tier's spec after t failed, or false when it would
// fall below the policy's minimum.
func shrink(t Tier, pol IPolicy, st *state, tmpl DiskTemplate) (Tier, bool) {
	minSpec := ISpec{Mem: unitMem, CPUs: 1, Disk: 0}
	if len(pol.MinMax) > 0 {
		minSpec = pol.MinMax[0].Min
	}
	var bestMem, bestDisk int64
	for n := range st.nn {
		if st.down(n) {
			continue
		}
		bestMem = max(bestMem, st.fMem[n]-max(st.rMem[n], 0))
		bestDisk = max(bestDisk, st.fDsk[n])
	}
	next := t
	next.Count, next.FailReason = 0, ""
	switch t.FailReason {
	case FailMem, FailN1:
		next.Mem = min(t.Mem-unitMem, bestMem/unitMem*unitMem)
	case FailDisk:
		next.Disk = min(t.Disk-unitDisk, bestDisk/unitDisk*unitDisk)
	case FailCPU:
		next.VCPUs = t.VCPUs - unitCPU
	default:
		return t, false
	}
	_ = tmpl
	if next.Mem < max(minSpec.Mem, 1) || next.Disk < minSpec.Disk || next.VCPUs < max(minSpec.CPUs, 1) {
		return t, false
	}
	return next, true
}
