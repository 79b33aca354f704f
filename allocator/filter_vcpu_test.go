package allocator

import "testing"

func TestVCPUFilter(t *testing.T) {
	// ratio 4 on 2 CPUs: 8 vcpus, one of which htools counts for the node.
	c := mkCluster(t, []Node{tnode("a", 65536, 100000, 2), tnode("b", 65536, 100000, 2)}, nil)
	inst := func(v int) Instance {
		return Instance{Name: "new", Mem: 128, Disk: 10, VCPUs: v, Template: TemplateDRBD, RunState: StateRunning, SpindleUse: 1}
	}
	runFilterCases(t, c, vcpuFilter{}, []filterCase{
		{"under the ratio", inst(7), "a", "b", false},
		{"over the ratio", inst(8), "a", "b", true},
		{"over the ratio on the other node", inst(8), "b", "a", true},
		{"secondary role is not limited", inst(7), "b", "a", false},
	})
}
