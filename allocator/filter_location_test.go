package allocator

import "testing"

func TestLocationFilter(t *testing.T) {
	a, b, c3 := tnode("a", 65536, 100000, 8), tnode("b", 65536, 100000, 8), tnode("c", 65536, 100000, 8)
	a.Tags, b.Tags, c3.Tags = []string{"rack:1"}, []string{"rack:1"}, []string{"rack:2"}
	c := mkCluster(t, []Node{a, b, c3}, nil, "htools:nlocation:rack")
	in := tdrbd("new", 1024, 100, 1, "", "")
	runFilterCases(t, c, locationFilter{}, []filterCase{
		{"same rack", in, "a", "b", true},
		{"different racks", in, "a", "c", false},
		{"single node", Instance{Name: "new", Mem: 1, Disk: 1, VCPUs: 1, Template: TemplatePlain, RunState: StateRunning}, "a", "", false},
	})
}
