package allocator

import "testing"

func TestExclusionFilter(t *testing.T) {
	web := tdrbd("web1", 1024, 100, 1, "a", "b")
	web.Tags = []string{"svc:web"}
	c := mkCluster(t, []Node{tnode("a", 65536, 100000, 8), tnode("b", 65536, 100000, 8), tnode("c", 65536, 100000, 8)},
		[]Instance{web}, "htools:iextags:svc")
	tagged := func(tag string) Instance {
		in := tdrbd("new", 1024, 100, 1, "", "")
		in.Tags = []string{tag}
		return in
	}
	runFilterCases(t, c, exclusionFilter{}, []filterCase{
		{"same tag same primary", tagged("svc:web"), "a", "c", true},
		{"same tag as secondary is fine", tagged("svc:web"), "b", "a", false},
		{"other tag", tagged("svc:db"), "a", "c", false},
		{"tag outside the prefix", tagged("owner:web"), "a", "c", false},
	})
}
