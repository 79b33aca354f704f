package allocator

import "testing"

func TestDiskFilter(t *testing.T) {
	c := mkCluster(t, []Node{tnode("a", 8192, 1000, 8), tnode("b", 8192, 500, 8)}, nil)
	inst := func(disk int64, tmpl DiskTemplate) Instance {
		return Instance{Name: "new", Mem: 128, Disk: disk, VCPUs: 1, Template: tmpl, RunState: StateRunning, SpindleUse: 1}
	}
	runFilterCases(t, c, diskFilter{}, []filterCase{
		{"plain fits", inst(1000, TemplatePlain), "a", "", false},
		{"plain too big", inst(1001, TemplatePlain), "a", "", true},
		{"drbd secondary too small", inst(600, TemplateDRBD), "a", "b", true},
		{"drbd both fit", inst(500, TemplateDRBD), "a", "b", false},
		{"shared storage uses no local disk", inst(5000, TemplateRBD), "b", "", false},
	})
}
