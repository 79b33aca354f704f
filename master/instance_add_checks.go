package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
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
	switch {
	case rec.Offline:
		return "", nil, api.Errorf(api.CodeWrongState, "node %s is offline", p.Node)
	case rec.Drained:
		return "", nil, api.Errorf(api.CodeWrongState, "node %s is drained", p.Node)
	case !rec.VMCapable:
		return "", nil, api.Errorf(api.CodeWrongState, "node %s is not vm_capable", p.Node)
	}
	_, st, err := m.nodeUsable(ctx, p.Node)
	if err != nil {
		return "", nil, err
	}
	hv := st.Hypervisor
	if p.Hypervisor != "" && p.Hypervisor != hv {
		return "", nil, api.Errorf(api.CodeWrongInput, "hypervisor %s asked, node %s runs %s", p.Hypervisor, p.Node, hv)
	}
	if !st.HypervisorOK {
		return "", nil, api.Errorf(api.CodeWrongState, "node %s reports its hypervisor %s as failed", p.Node, hv)
	}
	res := st.Resources
	if !p.NoStart && res.MemoryTotalMiB > 0 && res.MemoryFreeMiB < p.MemoryMiB {
		return "", nil, api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB memory free, instance needs %d", p.Node, res.MemoryFreeMiB, p.MemoryMiB)
	}
	var disk int64
	for _, d := range p.Disks {
		disk += d.SizeMiB
	}
	if res.DiskTotalMiB > 0 && res.DiskFreeMiB < disk {
		return "", nil, api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB disk free, instance needs %d", p.Node, res.DiskFreeMiB, disk)
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

// checkNewName refuses a name an instance has (or is being created with),
// compared without regard to case.
func (m *Master) checkNewName(ctx context.Context, name string) error {
	return m.checkNameFree(ctx, "instance", keys.InstancesPrefix, name)
}
