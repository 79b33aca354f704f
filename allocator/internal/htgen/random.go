package htgen

import (
	"fmt"
	"math/rand/v2"

	"github.com/drover-project/drover/allocator"
)

// templates drawn by Random, DRBD most often.
var templates = []allocator.DiskTemplate{
	allocator.TemplateDRBD, allocator.TemplateDRBD, allocator.TemplateDRBD, allocator.TemplatePlain,
	allocator.TemplatePlain, allocator.TemplateFile, allocator.TemplateDiskless, allocator.TemplateSharedFile,
	allocator.TemplateRBD, allocator.TemplateBlock, allocator.TemplateExt, allocator.TemplateGluster,
}

var runStates = []string{
	allocator.StateRunning, allocator.StateRunning, allocator.StateRunning, allocator.StateErrorUp,
	allocator.StateErrorDown, allocator.StateAdminDown, allocator.StateAdminOffline, allocator.StateUserDown,
	allocator.StateNodeDown, allocator.StateNodeOffline, allocator.StateErrorWrongNod,
}

// Random draws a whole cluster from r with up to maxNodes nodes: groups with
// their own policies (some unallocable), offline and drained nodes, nodes with
// no memory, disk or CPUs, every disk template and run state, exclusion and
// location tags, and free memory and disk that are usually derived from the
// placement but sometimes not (overcommitted or inconsistent input, as a
// hand-edited file can be). Drained nodes exist only in a Spec: the text
// format cannot express them. The result always passes NewCluster.
func Random(r *rand.Rand, maxNodes int) (*allocator.Cluster, error) {
	spec := allocator.Spec{Policy: randPolicy(r)}
	ng := 1 + r.IntN(3)
	for g := range ng {
		grp := allocator.Group{Name: fmt.Sprintf("g%d", g), UUID: fmt.Sprintf("uuid-%d", g), AllocPolicy: "preferred"}
		switch r.IntN(6) {
		case 0:
			grp.AllocPolicy = "unallocable"
		case 1:
			grp.AllocPolicy = "last_resort"
		}
		if r.IntN(3) == 0 {
			p := randPolicy(r)
			grp.Policy = &p
		}
		spec.Groups = append(spec.Groups, grp)
	}
	if r.IntN(2) == 0 {
		spec.Tags = append(spec.Tags, "htools:iextags:svc")
	}
	if r.IntN(2) == 0 {
		spec.Tags = append(spec.Tags, "htools:nlocation:rack")
	}
	nn := r.IntN(maxNodes + 1)
	if r.IntN(4) > 0 {
		nn = max(nn, min(2, maxNodes))
	}
	big := r.IntN(5) == 0 // few, very large nodes
	for k := range nn {
		n := allocator.Node{Name: fmt.Sprintf("n%02d", k), Group: spec.Groups[r.IntN(ng)].Name,
			TotalMem: int64(r.IntN(64)+1) * 1024, NodeMem: int64(r.IntN(3)) * 512,
			TotalDisk: int64(r.IntN(400)+1) * 1024, CPUs: r.IntN(33), Spindles: r.IntN(4)}
		if big {
			n.TotalMem, n.TotalDisk = n.TotalMem*1024, n.TotalDisk*1024
		}
		if r.IntN(12) == 0 {
			n.TotalMem, n.NodeMem = 0, 0
		}
		if r.IntN(12) == 0 {
			n.TotalDisk = 0
		}
		n.NodeMem = min(n.NodeMem, n.TotalMem)
		n.Offline = r.IntN(8) == 0
		n.Drained = !n.Offline && r.IntN(8) == 0
		n.Master = k == 0
		if r.IntN(2) == 0 {
			n.Tags = append(n.Tags, fmt.Sprintf("rack%d", r.IntN(3)))
		}
		spec.Nodes = append(spec.Nodes, n)
	}
	fMem, fDsk := make([]int64, nn), make([]int64, nn)
	for k, n := range spec.Nodes {
		fMem[k], fDsk[k] = n.TotalMem-n.NodeMem, n.TotalDisk
	}
	ni := 0
	if nn > 0 {
		ni = r.IntN(nn*12 + 1)
	}
	for k := range ni {
		t := templates[r.IntN(len(templates))]
		in := allocator.Instance{Name: fmt.Sprintf("i%03d", k), Mem: int64(r.IntN(16)+1) * 256,
			Disk: int64(r.IntN(40)) * 1024, VCPUs: r.IntN(5), Template: t, RunState: runStates[r.IntN(len(runStates))],
			AutoBalance: r.IntN(5) > 0, SpindleUse: r.IntN(3)}
		p := r.IntN(nn)
		in.Primary = spec.Nodes[p].Name
		s := -1
		// DRBD almost always has a secondary; other templates rarely do
		// (the format allows it and a parser must not be the only guard).
		if nn > 1 && ((t == allocator.TemplateDRBD && r.IntN(20) > 0) || r.IntN(20) == 0) {
			s = (p + 1 + r.IntN(nn-1)) % nn
			in.Secondary = spec.Nodes[s].Name
		}
		if r.IntN(3) == 0 {
			in.Tags = append(in.Tags, fmt.Sprintf("svc:%d", r.IntN(4)))
		}
		if r.IntN(10) == 0 {
			in.Tags = append(in.Tags, "other")
		}
		fMem[p] -= in.Mem
		fDsk[p] -= in.Disk
		if s >= 0 {
			fDsk[s] -= in.Disk
		}
		spec.Instances = append(spec.Instances, in)
	}
	for k := range spec.Nodes {
		n := &spec.Nodes[k]
		n.FreeMem, n.FreeDisk = max(fMem[k], 0), max(fDsk[k], 0)
		if r.IntN(10) == 0 { // inconsistent with the placement
			n.FreeMem, n.FreeDisk = r.Int64N(n.TotalMem+1), r.Int64N(n.TotalDisk+1)
		}
	}
	return allocator.NewCluster(spec)
}

func randPolicy(r *rand.Rand) allocator.IPolicy {
	p := allocator.DefaultIPolicy()
	switch r.IntN(4) {
	case 0:
		p.VCPURatio = 0
	case 1:
		p.VCPURatio = float64(r.IntN(8)) + r.Float64()
	}
	if r.IntN(4) == 0 {
		p.SpindleRatio = float64(r.IntN(4))
	}
	if r.IntN(3) == 0 {
		p.Templates = p.Templates[:1+r.IntN(len(p.Templates))]
	}
	if r.IntN(4) == 0 {
		p.MinMax = append(p.MinMax, allocator.MinMax{Min: allocator.ISpec{Mem: 1, CPUs: 1},
			Max: allocator.ISpec{Mem: int64(r.IntN(8)+1) * 1024, CPUs: 2, Disk: 10240, DiskCount: 1, NICCount: 1, SpindleUse: 1}})
	}
	if r.IntN(6) == 0 {
		p.MinMax = nil
	}
	return p
}
