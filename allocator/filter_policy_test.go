package allocator

import "testing"

func TestPolicyFilter(t *testing.T) {
	c := mkCluster(t, []Node{tnode("a", 65536, 10000000, 8), tnode("b", 65536, 10000000, 8)}, nil)
	s := c.Spec()
	s.Policy.Templates = []DiskTemplate{TemplateDRBD}
	c, err := NewCluster(s)
	if err != nil {
		t.Fatal(err)
	}
	in := func(mem, disk int64, v int, tmpl DiskTemplate) Instance {
		return Instance{Name: "new", Mem: mem, Disk: disk, VCPUs: v, Template: tmpl, RunState: StateRunning, SpindleUse: 1}
	}
	runFilterCases(t, c, policyFilter{}, []filterCase{
		{"within bounds", in(4096, 10240, 2, TemplateDRBD), "a", "b", false},
		{"template not allowed", in(4096, 10240, 2, TemplatePlain), "a", "", true},
		{"memory under min", in(64, 10240, 2, TemplateDRBD), "a", "b", true},
		{"memory over max", in(32769, 10240, 2, TemplateDRBD), "a", "b", true},
		{"too many vcpus", in(4096, 10240, 9, TemplateDRBD), "a", "b", true},
	})
}
