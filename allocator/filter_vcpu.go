package allocator

import "fmt"

// vcpuFilter: a primary's virtual CPUs may not exceed the policy's vcpu ratio
// times its physical CPUs.
type vcpuFilter struct{}

func (vcpuFilter) Name() string { return "vcpu" }

func (vcpuFilter) Check(st *state, _, n int, r role) string {
	lim := st.vcpuRatio[n] * st.tCpu[n]
	if r != rolePrimary || n == st.prevP || st.vcpuRatio[n] <= 0 || float64(st.uCpu[n]) <= lim {
		return ""
	}
	return fmt.Sprintf("%d vcpus over the limit %.0f (ratio %g)", st.uCpu[n], lim, st.vcpuRatio[n])
}
