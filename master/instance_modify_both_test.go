package master_test

import (
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// TestInstanceModifyServiceIPAndHA: one instance modify with service_ip and
// ha_priority sets both; a modify with neither (nor anything else) and one
// whose HA part is out of range are refused at submit with wrong_input and
// change nothing.
func TestInstanceModifyServiceIPAndHA(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	e.si.putJSON(ctx(t), t, keys.NodeStatusKey("node1"), keys.NodeStatus{Hypervisor: "kvm", HypervisorOK: true,
		Resources:   api.NodeResources{MemoryTotalMiB: 16384, MemoryFreeMiB: 16000, DiskTotalMiB: 10240, DiskFreeMiB: 10240, CPUs: 4},
		PublishedAt: time.Now().UTC(), StartedAt: time.Now().UTC()})
	a := api.InstanceAdd{Name: "web1", DiskTemplate: "file", OS: "tiny", Node: "node1", VCPUs: 1, MemoryMiB: 128,
		Disks: []api.InstanceDisk{{SizeMiB: 64}}}
	if j := e.run(t, api.OpInstanceAdd, a); j.State != api.JobSuccess {
		t.Fatalf("add: %+v", j.Error)
	}
	sip, prio := "192.0.2.30/24@br0", 25
	both := api.InstanceModifyOp{Name: "web1", InstanceModify: api.InstanceModify{ServiceIP: &sip,
		InstanceHAModify: api.InstanceHAModify{HAPriority: &prio}}}
	if j := e.run(t, api.OpInstanceModify, both); j.State != api.JobSuccess {
		t.Fatalf("modify service_ip and ha_priority: %+v", j.Error)
	}
	want := func(what string) {
		t.Helper()
		in, err := m.GetInstance(ctx(t), "web1")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if in.ServiceIP != sip || in.HAPriority != prio || in.VCPUs != 1 || in.MemoryMiB != 128 {
			t.Errorf("%s: service_ip %q ha_priority %d vcpus %d memory %d, want %q %d 1 128",
				what, in.ServiceIP, in.HAPriority, in.VCPUs, in.MemoryMiB, sip, prio)
		}
	}
	want("after the modify")

	other, tooHigh := "192.0.2.31/24@br0", api.MaxHAPriority+1
	for name, op := range map[string]api.InstanceModifyOp{
		"neither": {Name: "web1"},
		"service_ip with ha_priority out of range": {Name: "web1", InstanceModify: api.InstanceModify{ServiceIP: &other,
			InstanceHAModify: api.InstanceHAModify{HAPriority: &tooHigh}}},
	} {
		_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpInstanceModify, op)}})
		if api.CodeOf(err) != api.CodeWrongInput {
			t.Errorf("%s: %v, want wrong_input", name, err)
		}
	}
	want("after the refused modifies")
}
