// Package htgen generates unevenly placed test clusters and re-derives node
// free memory and disk from instance placement, for the htools benchmark.
package htgen

import (
	"fmt"
	"math/rand/v2"

	"github.com/drover-project/drover/allocator"
)

// Options shape a generated cluster.
type Options struct {
	Nodes       int
	InstPerNode int    // average instances per node
	Seed        uint64 // same seed, same cluster
	NodeMemMiB  int64  // total memory per node
	NodeDiskMiB int64  // total disk per node
	NodeCPUs    int
	HotFraction float64 // fraction of nodes that get most instances
	HotShare    float64 // share of primaries placed on the hot nodes
	PlainShare  float64 // share of instances that are plain (no secondary); the rest are DRBD
}

// Defaults fills unset options.
func (o Options) withDefaults() Options {
	if o.InstPerNode == 0 {
		o.InstPerNode = 10
	}
	if o.NodeMemMiB == 0 {
		o.NodeMemMiB = 128 * 1024
	}
	if o.NodeDiskMiB == 0 {
		o.NodeDiskMiB = 4 * 1024 * 1024
	}
	if o.NodeCPUs == 0 {
		o.NodeCPUs = 32
	}
	if o.HotFraction == 0 {
		o.HotFraction = 0.3
	}
	if o.HotShare == 0 {
		o.HotShare = 0.75
	}
	return o
}

const nodeMem = 1024

// Generate builds a DRBD cluster whose primaries crowd on a few hot nodes.
// Every node keeps free memory and disk non-negative.
func Generate(o Options) (*allocator.Cluster, error) {
	o = o.withDefaults()
	if o.Nodes < 2 {
		return nil, fmt.Errorf("htgen: need at least 2 nodes, got %d", o.Nodes)
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	spec := allocator.Spec{
		Groups: []allocator.Group{{Name: "default", UUID: "uuid-default", AllocPolicy: "preferred"}},
		Policy: allocator.DefaultIPolicy(),
	}
	spec.Policy.MinMax[0].Max.Mem = 64 * 1024
	spec.Policy.MinMax[0].Max.Disk = 2 * 1024 * 1024
	spec.Policy.MinMax[0].Max.CPUs = 16
	fMem := make([]int64, o.Nodes)
	fDsk := make([]int64, o.Nodes)
	for i := range o.Nodes {
		spec.Nodes = append(spec.Nodes, allocator.Node{Name: fmt.Sprintf("node-%04d", i+1), Group: "default",
			TotalMem: o.NodeMemMiB, NodeMem: nodeMem, TotalDisk: o.NodeDiskMiB, CPUs: o.NodeCPUs, Spindles: 1,
			Master: i == 0})
		fMem[i] = o.NodeMemMiB - nodeMem
		fDsk[i] = o.NodeDiskMiB
	}
	hot := max(1, int(float64(o.Nodes)*o.HotFraction))
	mems := []int64{1024, 2048, 4096, 8192}
	disks := []int64{10240, 20480, 51200, 102400}
	cpus := []int{1, 2, 4}
	pick := func() int {
		if r.Float64() < o.HotShare {
			return r.IntN(hot)
		}
		return r.IntN(o.Nodes)
	}
	total := o.Nodes * o.InstPerNode
	for k := range total {
		mem, dsk := mems[r.IntN(len(mems))], disks[r.IntN(len(disks))]
		vc := cpus[r.IntN(len(cpus))]
		plain := o.PlainShare > 0 && r.Float64() < o.PlainShare
		placed := false
		for try := 0; try < 20 && !placed; try++ {
			p, s := pick(), r.IntN(o.Nodes)
			if plain {
				s = -1
			}
			if p == s || fMem[p] < mem || fDsk[p] < dsk || (s >= 0 && fDsk[s] < dsk) {
				continue
			}
			in := allocator.Instance{Name: fmt.Sprintf("inst-%05d", k+1), Mem: mem, Disk: dsk, VCPUs: vc,
				Template: allocator.TemplatePlain, Primary: spec.Nodes[p].Name, RunState: allocator.StateRunning,
				AutoBalance: true, SpindleUse: 1}
			fMem[p] -= mem
			fDsk[p] -= dsk
			if s >= 0 {
				fDsk[s] -= dsk
				in.Template, in.Secondary = allocator.TemplateDRBD, spec.Nodes[s].Name
			}
			spec.Instances = append(spec.Instances, in)
			placed = true
		}
	}
	for i := range spec.Nodes {
		spec.Nodes[i].FreeMem, spec.Nodes[i].FreeDisk = fMem[i], fDsk[i]
	}
	return allocator.NewCluster(spec)
}

// Rederive returns c with every online node's free memory and disk computed
// from the instances placed on it: total - node - running primaries' memory,
// total - disks of primaries and secondaries. This is how both tools' results
// are judged, since hbal -S keeps the nodes' original free memory.
func Rederive(c *allocator.Cluster) (*allocator.Cluster, error) {
	s := c.Spec()
	ix := map[string]int{}
	for i, n := range s.Nodes {
		ix[n.Name] = i
		s.Nodes[i].FreeMem = n.TotalMem - n.NodeMem
		s.Nodes[i].FreeDisk = n.TotalDisk
	}
	for _, in := range s.Instances {
		p := ix[in.Primary]
		if in.RunState != allocator.StateAdminDown && in.RunState != allocator.StateAdminOffline &&
			in.RunState != allocator.StateErrorDown && in.RunState != allocator.StateUserDown {
			s.Nodes[p].FreeMem -= in.Mem
		}
		if in.Template == allocator.TemplateDRBD || in.Template == allocator.TemplatePlain || in.Template == allocator.TemplateFile {
			s.Nodes[p].FreeDisk -= in.Disk
			if in.Secondary != "" {
				s.Nodes[ix[in.Secondary]].FreeDisk -= in.Disk
			}
		}
	}
	for i := range s.Nodes {
		if s.Nodes[i].FreeMem < 0 || s.Nodes[i].FreeDisk < 0 {
			return nil, fmt.Errorf("htgen: node %s overcommitted (free mem %d, free disk %d)", s.Nodes[i].Name, s.Nodes[i].FreeMem, s.Nodes[i].FreeDisk)
		}
	}
	return allocator.NewCluster(s)
}

// Place returns c with instance name moved to (primary, secondary).
func Place(c *allocator.Cluster, name, primary, secondary string) (*allocator.Cluster, error) {
	s := c.Spec()
	for i := range s.Instances {
		if s.Instances[i].Name == name {
			s.Instances[i].Primary, s.Instances[i].Secondary = primary, secondary
			return allocator.NewCluster(s)
		}
	}
	return nil, fmt.Errorf("htgen: no instance %q", name)
}

// Add returns c with a new running instance on (primary, secondary).
func Add(c *allocator.Cluster, in allocator.Instance) (*allocator.Cluster, error) {
	s := c.Spec()
	s.Instances = append(s.Instances, in)
	return allocator.NewCluster(s)
}
