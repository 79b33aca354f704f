package master

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Submit-time checks of instance parameters against the cluster and the
// target node: what the node could never run is refused before any disk is
// made, with a stable code, instead of failing on the node as internal.

// defaultVCPURatio is the cluster's vcpu ratio when none is set (Ganeti's
// ipolicy default): a node's primaries may have 4 virtual CPUs per physical
// one.
const defaultVCPURatio = 4.0

// vcpuRatio reads the cluster's vcpu ratio.
func (m *Master) vcpuRatio(ctx context.Context) (float64, error) {
	var cr keys.ClusterRecord
	if _, err := store.GetJSON(ctx, m.client, keys.ClusterKey, &cr); err != nil {
		return 0, unavailable("read cluster", err)
	}
	if cr.VCPURatio > 0 {
		return cr.VCPURatio, nil
	}
	return defaultVCPURatio, nil
}

// nodeUnfit says why a node whose agent publishes st can never take
// instance p, whatever its free memory and disk ("" when it can): another
// hypervisor, a NIC link that is not one of its bridges, more vcpus than it
// has CPUs.
func nodeUnfit(p api.InstanceAdd, st *keys.NodeStatus) string {
	if p.Hypervisor != "" && st.Hypervisor != p.Hypervisor {
		return fmt.Sprintf("runs hypervisor %s, not %s", st.Hypervisor, p.Hypervisor)
	}
	if l := missingLink(p.NICs, st); l != "" {
		return fmt.Sprintf("has no bridge %s (bridges: %s)", l, orNone(st.Bridges))
	}
	if c := st.Resources.CPUs; c > 0 && p.VCPUs > c {
		return fmt.Sprintf("has %d CPUs, instance wants %d vcpus", c, p.VCPUs)
	}
	return ""
}

// missingLink is the first NIC link that the node does not have as a bridge
// ("" when all are there, or when the node does not report its bridges).
func missingLink(nics []api.InstanceNIC, st *keys.NodeStatus) string {
	if !st.BridgesReported {
		return ""
	}
	for _, n := range nics {
		if n.Link != "" && !slices.Contains(st.Bridges, n.Link) {
			return n.Link
		}
	}
	return ""
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// checkAddFit checks an add against its node (status st, hypervisor hv) and
// template t: bridges, CPUs and the vcpu ratio, and that disk 0 holds the
// template.
func (m *Master) checkAddFit(ctx context.Context, p api.InstanceAdd, hv string, st *keys.NodeStatus, t *keys.TemplateRecord) error {
	if err := addFitsStatic(p, hv, st, t); err != nil {
		return err
	}
	return m.checkVCPUs(ctx, p.Node, st, p.VCPUs, "")
}

// checkVCPUs refuses vcpus for an instance on node (status st) when the node
// has fewer CPUs, or when with the vcpus of its other primaries (all but
// except) they pass CPUs x the cluster's vcpu ratio.
func (m *Master) checkVCPUs(ctx context.Context, node string, st *keys.NodeStatus, vcpus int, except string) error {
	cpus := st.Resources.CPUs
	if cpus <= 0 || vcpus > cpus {
		return vcpusFit(node, cpus, 0, vcpus, 0)
	}
	ratio, err := m.vcpuRatio(ctx)
	if err != nil {
		return err
	}
	used, err := m.primaryVCPUs(ctx, node, except)
	if err != nil {
		return err
	}
	return vcpusFit(node, cpus, used, vcpus, ratio)
}

// primaryVCPUs sums the vcpus of the instances whose primary is node, but
// instance except.
func (m *Master) primaryVCPUs(ctx context.Context, node, except string) (int, error) {
	if n, ok := m.cache.primaryVCPUs(ctx, m.client, node, except); ok {
		return n, nil
	}
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.InstancesPrefix, clientv3.WithPrefix())
	if err != nil {
		return 0, unavailable("list instances", err)
	}
	n := 0
	for _, kv := range resp.Kvs {
		var r keys.InstanceRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return 0, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		if r.PrimaryNode == node && r.Name != except {
			n += r.VCPUs
		}
	}
	return n, nil
}

// checkModify checks instance modify: vcpus against the primary node's CPUs
// and the vcpu ratio, memory against its total memory. A node that reports
// nothing (unreachable) is not checked: the record changes, the domain at
// the next start.
func (m *Master) checkModify(ctx context.Context, p api.InstanceModifyOp) error {
	rec, _, err := m.instanceRecord(ctx, p.Name)
	if err != nil {
		return err
	}
	var st keys.NodeStatus
	if _, err := store.GetJSON(ctx, m.client, keys.NodeStatusKey(rec.PrimaryNode), &st); err != nil {
		return nil
	}
	if p.MemoryMiB != nil {
		if total := st.Resources.MemoryTotalMiB; total > 0 && *p.MemoryMiB > total {
			return api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB memory in all, instance %s would want %d",
				rec.PrimaryNode, total, p.Name, *p.MemoryMiB)
		}
	}
	if p.VCPUs != nil {
		return m.checkVCPUs(ctx, rec.PrimaryNode, &st, *p.VCPUs, p.Name)
	}
	return nil
}

// checkHypervisorOffered refuses a hypervisor that no node with an agent
// runs (statuses: the published status of each live node).
func checkHypervisorOffered(hv string, statuses map[string]*keys.NodeStatus) error {
	if hv == "" || len(statuses) == 0 {
		return nil // no node to compare with: the allocator says why
	}
	var have []string
	for _, st := range statuses {
		if st.Hypervisor == hv {
			return nil
		}
		if !slices.Contains(have, st.Hypervisor) {
			have = append(have, st.Hypervisor)
		}
	}
	slices.Sort(have)
	return api.Errorf(api.CodeWrongInput, "no node runs hypervisor %s (the nodes run: %s)", hv, orNone(have))
}
