package master

import (
	"context"
	"errors"
	"sort"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// AllocatorView implements api.RAPIBackend: the snapshot instance add
// places on (allocSpec, for any hypervisor), so that htools reading the RAPI
// see the numbers drover's allocator uses.
func (m *Master) AllocatorView(ctx context.Context) (*api.AllocatorView, error) {
	v, err := m.readClusterView(ctx)
	if err != nil {
		return nil, err
	}
	statuses := map[string]*nodeAgentStatus{}
	for name := range v.nodes {
		if !v.alive[name] {
			continue
		}
		var st keys.NodeStatus
		if _, err := store.GetJSON(ctx, m.client, keys.NodeStatusKey(name), &st); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue // its lease expired since the view was read
			}
			return nil, unavailable("read node status", err)
		}
		statuses[name] = &nodeAgentStatus{Hypervisor: st.Hypervisor, HypervisorOK: st.HypervisorOK, Resources: st.Resources}
	}
	spec := allocSpec(v, statuses, "")
	out := &api.AllocatorView{Policy: policyView(spec.Policy)}
	for _, n := range spec.Nodes {
		out.Nodes = append(out.Nodes, api.AllocatorNode{
			Name: n.Name, TotalMemMiB: n.TotalMem, NodeMemMiB: n.NodeMem, FreeMemMiB: n.FreeMem,
			TotalDiskMiB: n.TotalDisk, FreeDiskMiB: n.FreeDisk, CPUs: n.CPUs, Spindles: n.Spindles,
			Offline: n.Offline, Drained: n.Drained,
		})
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Name < out.Nodes[j].Name })
	return out, nil
}

func policyView(p allocator.IPolicy) api.AllocatorPolicy {
	spec := func(s allocator.ISpec) api.AllocatorSpec {
		return api.AllocatorSpec{MemMiB: s.Mem, CPUs: s.CPUs, DiskMiB: s.Disk, DiskCount: s.DiskCount,
			NICCount: s.NICCount, SpindleUse: s.SpindleUse}
	}
	out := api.AllocatorPolicy{Std: spec(p.Std), VCPURatio: p.VCPURatio, SpindleRatio: p.SpindleRatio}
	if len(p.MinMax) > 0 {
		out.Min, out.Max = spec(p.MinMax[0].Min), spec(p.MinMax[0].Max)
	}
	for _, t := range p.Templates {
		out.Templates = append(out.Templates, string(t))
	}
	return out
}

// ClusterTags implements api.RAPIBackend.
func (m *Master) ClusterTags(ctx context.Context) ([]string, error) {
	var tags []string
	if _, err := store.GetJSON(ctx, m.client, keys.ClusterTagsKey, &tags); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, unavailable("read cluster tags", err)
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}
