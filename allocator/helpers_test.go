package allocator

import "testing"

// tnode is a test node with the given memory and disk (MiB) and CPUs.
func tnode(name string, mem, disk int64, cpus int) Node {
	return Node{Name: name, Group: "g", TotalMem: mem, TotalDisk: disk, CPUs: cpus, Spindles: 1}
}

// tdrbd is a running, auto-balanced DRBD instance.
func tdrbd(name string, mem, disk int64, vcpus int, p, s string) Instance {
	return Instance{Name: name, Mem: mem, Disk: disk, VCPUs: vcpus, Template: TemplateDRBD, Primary: p,
		Secondary: s, RunState: StateRunning, AutoBalance: true, SpindleUse: 1}
}

// mkCluster builds a cluster whose node free memory and disk follow from the
// instances placed on them.
func mkCluster(t testing.TB, nodes []Node, insts []Instance, tags ...string) *Cluster {
	t.Helper()
	ix := map[string]int{}
	for i := range nodes {
		ix[nodes[i].Name] = i
		nodes[i].FreeMem = nodes[i].TotalMem - nodes[i].NodeMem
		nodes[i].FreeDisk = nodes[i].TotalDisk
	}
	for _, in := range insts {
		if usesMemory(in.RunState) {
			nodes[ix[in.Primary]].FreeMem -= in.Mem
		}
		if in.Template.usesLocalDisk() {
			nodes[ix[in.Primary]].FreeDisk -= in.Disk
			if in.Secondary != "" {
				nodes[ix[in.Secondary]].FreeDisk -= in.Disk
			}
		}
	}
	pol := DefaultIPolicy()
	c, err := NewCluster(Spec{Groups: []Group{{Name: "g", UUID: "g-uuid", AllocPolicy: "preferred"}},
		Nodes: nodes, Instances: insts, Tags: tags, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// probe places a new instance on (p, s) with only filter f and returns the
// rejecting filter's name, or "".
func probe(t *testing.T, c *Cluster, f Filter, in Instance, p, s string) string {
	t.Helper()
	st := newState(c, []Filter{f})
	i := st.addInstance(in)
	pi, si := c.nodeIx[p], -1
	if s != "" {
		si = c.nodeIx[s]
	}
	_, rej := st.eval(i, pi, si)
	if rej == nil {
		return ""
	}
	if rej.Reason == "" {
		t.Errorf("rejection by %s without a reason", rej.Filter)
	}
	return rej.Filter
}

// filterCase is one row of a filter's table test.
type filterCase struct {
	name   string
	in     Instance
	p, s   string
	reject bool
}

func runFilterCases(t *testing.T, c *Cluster, f Filter, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := probe(t, c, f, tc.in, tc.p, tc.s)
			if tc.reject && got != f.Name() {
				t.Fatalf("want rejection by %s, got %q", f.Name(), got)
			}
			if !tc.reject && got != "" {
				t.Fatalf("want fit, rejected by %s", got)
			}
		})
	}
}
