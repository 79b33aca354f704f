package allocator

import "testing"

func TestN1Filter(t *testing.T) {
	// x (6000 MiB) runs on a, mirrored on b: b must keep 6000 MiB free.
	c := mkCluster(t, []Node{tnode("a", 10000, 100000, 8), tnode("b", 10000, 100000, 8), tnode("c", 10000, 100000, 8)},
		[]Instance{tdrbd("x", 6000, 100, 1, "a", "b")})
	in := func(mem int64) Instance { return tdrbd("new", mem, 100, 1, "", "") }
	runFilterCases(t, c, n1Filter{}, []filterCase{
		{"primary eats the reserve", in(4001), "b", "c", true},
		{"primary leaves the reserve", in(4000), "b", "c", false},
		{"another peer, smaller than the worst", in(5000), "c", "b", false},
		{"same peer grows past free memory", in(4001), "a", "b", true},
		{"same peer within free memory", in(4000), "a", "b", false},
	})
}
