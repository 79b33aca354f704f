package allocator

import "testing"

func TestMemoryFilter(t *testing.T) {
	c := mkCluster(t, []Node{tnode("a", 4096, 100000, 8), tnode("b", 2048, 100000, 8)}, nil)
	plain := func(mem int64, state string) Instance {
		return Instance{Name: "new", Mem: mem, Disk: 10, VCPUs: 1, Template: TemplatePlain, RunState: state, SpindleUse: 1}
	}
	drbd := tdrbd("new", 3000, 10, 1, "", "")
	runFilterCases(t, c, memoryFilter{}, []filterCase{
		{"exact fit", plain(4096, StateRunning), "a", "", false},
		{"too big", plain(4097, StateRunning), "a", "", true},
		{"stopped instance needs no memory", plain(9999, StateAdminDown), "a", "", false},
		{"secondary needs no memory", drbd, "a", "b", false},
		{"primary too small for drbd", drbd, "b", "a", true},
	})
}
