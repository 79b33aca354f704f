package master

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// lockNodeAlloc serializes adds that let the allocator choose the node
// (Ganeti's node allocation lock): two of them never place on one stale
// snapshot.
const lockNodeAlloc = "node-alloc"

// allocSpec is the allocator's snapshot of the cluster for instance add:
// nodes that cannot take the instance (offline, unreachable, drained, not
// vm_capable, failed or other hypervisor) are marked offline or drained so
// the allocator's filters skip them. Free memory and disk are the agent's
// figures, capped by what the recorded instances leave.
func allocSpec(v *clusterView, statuses map[string]*nodeAgentStatus, hv string) allocator.Spec {
	pol := allocator.DefaultIPolicy()
	pol.MinMax = []allocator.MinMax{{
		Min: allocator.ISpec{Mem: api.MinInstanceMemoryMiB, CPUs: 1, Disk: 0, DiskCount: 0, NICCount: 0, SpindleUse: 1},
		Max: allocator.ISpec{Mem: api.MaxInstanceMemoryMiB, CPUs: api.MaxInstanceVCPUs, Disk: api.MaxInstanceDiskMiB,
			DiskCount: api.MaxInstanceDisks, NICCount: api.MaxInstanceNICs, SpindleUse: 1 << 20},
	}}
	// The cluster record may set another ratio (allocateNode reads it).
	pol.VCPURatio, pol.SpindleRatio = defaultVCPURatio, 0
	spec := allocator.Spec{Policy: pol}
	usedMem, usedDisk := map[string]int64{}, map[string]int64{}
	for _, r := range v.instances {
		if _, ok := v.nodes[r.PrimaryNode]; !ok {
			continue
		}
		var disk int64
		for _, d := range r.Disks {
			disk += d.SizeMiB
		}
		usedMem[r.PrimaryNode] += r.MemoryMiB
		usedDisk[r.PrimaryNode] += disk
		sec := drbdSecondary(&r)
		if _, ok := v.nodes[sec]; !ok || sec == r.PrimaryNode {
			sec = ""
		}
		if sec != "" {
			usedDisk[sec] += disk
		}
		state := allocator.StateRunning
		if !r.AdminUp {
			state = allocator.StateAdminDown
		}
		tmpl := allocator.DiskTemplate(r.DiskTemplate)
		if !tmpl.Valid() {
			tmpl = allocator.TemplateDiskless
		}
		spec.Instances = append(spec.Instances, allocator.Instance{Name: r.Name, Mem: r.MemoryMiB, Disk: disk, VCPUs: r.VCPUs,
			Template: tmpl, Primary: r.PrimaryNode, Secondary: sec, RunState: state, AutoBalance: true, SpindleUse: 1})
	}
	for name, n := range v.nodes {
		st := statuses[name]
		an := allocator.Node{Name: name, Offline: n.Offline || st == nil, Drained: n.Drained || !n.VMCapable, Tags: n.Tags}
		if st != nil {
			res := st.Resources
			an.TotalMem, an.TotalDisk, an.CPUs, an.Spindles = res.MemoryTotalMiB, res.DiskTotalMiB, res.CPUs, 1<<20
			an.FreeMem = max(0, min(res.MemoryFreeMiB, res.MemoryTotalMiB-usedMem[name]))
			an.FreeDisk = max(0, min(res.DiskFreeMiB, res.DiskTotalMiB-usedDisk[name]))
			if !st.HypervisorOK || (hv != "" && st.Hypervisor != hv) || st.Unfit != "" {
				an.Drained = true
			}
		}
		spec.Nodes = append(spec.Nodes, an)
	}
	return spec
}

// nodeAgentStatus is what allocSpec needs of a node's published status.
type nodeAgentStatus struct {
	Hypervisor   string
	HypervisorOK bool
	Resources    api.NodeResources
	// Unfit says why the node can never take the instance (nodeUnfit).
	Unfit string
}

// allocateNode picks the primary node of a new instance with the allocator,
// and for drbd its secondary (N+1 kept).
func (m *Master) allocateNode(ctx context.Context, p api.InstanceAdd) (string, string, error) {
	v, err := m.readClusterView(ctx)
	if err != nil {
		return "", "", err
	}
	statuses := map[string]*nodeAgentStatus{}
	published := map[string]*keys.NodeStatus{}
	for name := range v.nodes {
		if !v.alive[name] {
			continue
		}
		st := v.status[name] // read with the view (no read per node)
		if st == nil || v.nodes[name].Offline {
			continue
		}
		published[name] = st
		unfit := nodeUnfit(p, st)
		if err := checkBlockNode(name, p.DiskTemplate, st, 0); unfit == "" && isBlockTemplate(p.DiskTemplate) && err != nil {
			unfit = api.AsError(err).Message
		}
		statuses[name] = &nodeAgentStatus{Hypervisor: st.Hypervisor, HypervisorOK: st.HypervisorOK, Resources: st.Resources, Unfit: unfit}
	}
	if err := checkHypervisorOffered(p.Hypervisor, published); err != nil {
		return "", "", err
	}
	ratio, err := m.vcpuRatio(ctx)
	if err != nil {
		return "", "", err
	}
	spec := allocSpec(v, statuses, p.Hypervisor)
	spec.Policy.VCPURatio = ratio
	var disk int64
	for _, d := range p.Disks {
		disk += d.SizeMiB
	}
	req := allocator.AllocateRequest{Name: p.Name, Mem: p.MemoryMiB, Disk: disk, VCPUs: p.VCPUs,
		Template: allocator.DiskTemplate(p.DiskTemplate)}
	var res allocator.AllocateResult
	err = placePreferringUplink(v, spec, func(c *allocator.Cluster) error {
		res, err = c.Allocate(req)
		return err
	})
	if errors.Is(err, errAllocSnapshot) {
		return "", "", err
	}
	if errors.Is(err, allocator.ErrNoFit) {
		var why []string
		for _, r := range res.Rejected {
			reason := r.Reason
			if st := statuses[r.Node]; st != nil && st.Unfit != "" {
				reason = st.Unfit // the allocator only saw "drained"
			}
			why = append(why, fmt.Sprintf("%s: %s", r.Node, reason))
		}
		return "", "", api.Errorf(api.CodeInsufficientResources, "no node fits instance %s (%s)", p.Name, strings.Join(why, "; "))
	}
	if err != nil {
		return "", "", api.Errorf(api.CodeWrongInput, "allocator: %v", err)
	}
	return res.Primary, res.Secondary, nil
}
