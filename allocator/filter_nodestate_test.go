package allocator

import "testing"

func TestNodeStateFilter(t *testing.T) {
	off, dr := tnode("off", 8192, 100000, 8), tnode("drained", 8192, 100000, 8)
	off.Offline, dr.Drained = true, true
	c := mkCluster(t, []Node{tnode("a", 8192, 100000, 8), off, dr}, nil)
	in := Instance{Name: "new", Mem: 128, Disk: 10, VCPUs: 1, Template: TemplateDRBD, RunState: StateRunning, SpindleUse: 1}
	runFilterCases(t, c, nodeStateFilter{}, []filterCase{
		{"online", in, "a", "", false},
		{"offline primary", in, "off", "a", true},
		{"drained secondary", in, "a", "drained", true},
	})
	s := c.Spec()
	s.Groups[0].AllocPolicy = "unallocable"
	u, err := NewCluster(s)
	if err != nil {
		t.Fatal(err)
	}
	runFilterCases(t, u, nodeStateFilter{}, []filterCase{{"unallocable group", in, "a", "", true}})
}
