package allocator

import (
	"fmt"
	"slices"
)

// policyFilter: a new instance must match its node group's instance policy:
// an allowed disk template and a spec within one of the min/max pairs.
type policyFilter struct{}

func (policyFilter) Name() string { return "instance-policy" }

func (policyFilter) Check(st *state, i, n int, _ role) string {
	return policyViolation(st.c.policyFor(st.c.spec.Nodes[n].Group), &st.inst[i])
}

// policyViolation returns why in does not match pol, or "".
func policyViolation(pol *IPolicy, in *Instance) string {
	if len(pol.Templates) > 0 && !slices.Contains(pol.Templates, in.Template) {
		return fmt.Sprintf("disk template %s not allowed", in.Template)
	}
	if len(pol.MinMax) == 0 {
		return ""
	}
	for _, mm := range pol.MinMax {
		if in.Mem >= mm.Min.Mem && in.Mem <= mm.Max.Mem &&
			in.Disk >= mm.Min.Disk && in.Disk <= mm.Max.Disk &&
			in.VCPUs >= mm.Min.CPUs && in.VCPUs <= mm.Max.CPUs {
			return ""
		}
	}
	mm := pol.MinMax[0]
	return fmt.Sprintf("spec mem=%d disk=%d vcpus=%d outside policy [%d..%d, %d..%d, %d..%d]",
		in.Mem, in.Disk, in.VCPUs, mm.Min.Mem, mm.Max.Mem, mm.Min.Disk, mm.Max.Disk, mm.Min.CPUs, mm.Max.CPUs)
}
