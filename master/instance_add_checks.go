package master

import (
	"context"
	"encoding/json"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/templates"
)

// checkAddTarget checks the node an instance is added to, and the template:
// returns the hypervisor the instance will have and the template record.
func (m *Master) checkAddTarget(ctx context.Context, p api.InstanceAdd) (string, *keys.TemplateRecord, error) {
	if p.Node == "" {
		return "", nil, api.Errorf(api.CodeWrongInput, "no node given")
	}
	rec, err := m.nodeRecord(ctx, p.Node)
	if err != nil {
		return "", nil, err
	}
	if err := nodeTakesAdd(p.Node, rec); err != nil {
		return "", nil, err
	}
	_, st, err := m.nodeUsable(ctx, p.Node)
	if err != nil {
		return "", nil, err
	}
	hv, err := statusTakesAdd(p, st)
	if err != nil {
		return "", nil, err
	}
	t, err := m.resolveTemplate(ctx, p.OS)
	if err != nil {
		return "", nil, err
	}
	if err := checkAddOS(p, t, st); err != nil {
		return "", nil, err
	}
	if err := m.checkAddFit(ctx, p, hv, st, t); err != nil {
		return "", nil, err
	}
	return hv, t, nil
}

// nodeTakesAdd refuses a node record that takes no new instance.
func nodeTakesAdd(node string, rec *keys.NodeRecord) error {
	switch {
	case rec.Offline:
		return api.Errorf(api.CodeWrongState, "node %s is offline", node)
	case rec.Drained:
		return api.Errorf(api.CodeWrongState, "node %s is drained", node)
	case !rec.VMCapable:
		return api.Errorf(api.CodeWrongState, "node %s is not vm_capable", node)
	}
	return nil
}

// statusTakesAdd checks add p against what the node's agent publishes (st):
// hypervisor, free memory and disk. It returns the instance's hypervisor.
func statusTakesAdd(p api.InstanceAdd, st *keys.NodeStatus) (string, error) {
	hv := st.Hypervisor
	if p.Hypervisor != "" && p.Hypervisor != hv {
		return "", api.Errorf(api.CodeWrongInput, "hypervisor %s asked, node %s runs %s", p.Hypervisor, p.Node, hv)
	}
	if !st.HypervisorOK {
		return "", api.Errorf(api.CodeWrongState, "node %s reports its hypervisor %s as failed", p.Node, hv)
	}
	res := st.Resources
	if !p.NoStart && res.MemoryTotalMiB > 0 && res.MemoryFreeMiB < p.MemoryMiB {
		return "", api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB memory free, instance needs %d", p.Node, res.MemoryFreeMiB, p.MemoryMiB)
	}
	var disk int64
	for _, d := range p.Disks {
		disk += d.SizeMiB
	}
	if res.DiskTotalMiB > 0 && res.DiskFreeMiB < disk {
		return "", api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB disk free, instance needs %d", p.Node, res.DiskFreeMiB, disk)
	}
	return hv, nil
}

// addFitsStatic checks what of an add's fit needs no other instance: the
// NICs' bridges and that disk 0 holds the template.
func addFitsStatic(p api.InstanceAdd, hv string, st *keys.NodeStatus, t *keys.TemplateRecord) error {
	if l := missingLink(p.NICs, st); l != "" {
		return api.Errorf(api.CodeWrongInput, "node %s has no bridge %s for the NIC (its bridges: %s)", p.Node, l, orNone(st.Bridges))
	}
	if p.DiskTemplate == api.DiskTemplateFile && hv != "lxc" && len(p.Disks) > 0 {
		var mf templates.Manifest
		if json.Unmarshal(t.Manifest, &mf) == nil {
			if need := templates.MinDiskMiB(mf); p.Disks[0].SizeMiB < need {
				return api.Errorf(api.CodeWrongInput, "disk 0 of %d MiB is too small for template %s@%d (needs at least %d MiB)",
					p.Disks[0].SizeMiB, t.Name, t.Version, need)
			}
		}
	}
	return nil
}

// vcpusFit refuses vcpus for an instance on node (cpus CPUs) when the node
// has fewer CPUs, or when with used (the vcpus of its other primaries) they
// pass cpus x ratio. cpus <= 0 (not reported) is not checked.
func vcpusFit(node string, cpus, used, vcpus int, ratio float64) error {
	if cpus <= 0 {
		return nil
	}
	if vcpus > cpus {
		return api.Errorf(api.CodeInsufficientResources, "node %s has %d CPUs, instance wants %d vcpus", node, cpus, vcpus)
	}
	if limit := int(float64(cpus) * ratio); used+vcpus > limit {
		return api.Errorf(api.CodeInsufficientResources, "node %s: %d vcpus of its instances plus %d pass its limit of %d (%d CPUs x vcpu ratio %g)",
			node, used, vcpus, limit, cpus, ratio)
	}
	return nil
}

// errUnreachable is the error of a node whose agent holds no lease.
func errUnreachable(node string) error {
	return api.Errorf(api.CodeWrongState, "node %s is unreachable (its agent holds no lease)", node)
}

// checkNewName refuses a name an instance has (or is being created with),
// compared without regard to case.
func (m *Master) checkNewName(ctx context.Context, name string) error {
	return m.checkNameFree(ctx, "instance", keys.InstancesPrefix, name)
}
