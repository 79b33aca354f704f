package master_test

import (
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// TestInstanceServiceIP: instance modify sets and removes an instance's
// service address (shown by the API); a malformed one is wrong_input, one
// another instance or the cluster IP has is already_exists, both refused
// at submit.
func TestInstanceServiceIP(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	e.si.putJSON(ctx(t), t, keys.NodeStatusKey("node1"), keys.NodeStatus{Hypervisor: "kvm", HypervisorOK: true,
		Resources:   api.NodeResources{MemoryTotalMiB: 16384, MemoryFreeMiB: 16000, DiskTotalMiB: 10240, DiskFreeMiB: 10240, CPUs: 4},
		PublishedAt: time.Now().UTC(), StartedAt: time.Now().UTC()})
	for _, n := range []string{"web1", "web2"} {
		a := api.InstanceAdd{Name: n, DiskTemplate: "file", OS: "tiny", Node: "node1", VCPUs: 1, MemoryMiB: 128,
			Disks: []api.InstanceDisk{{SizeMiB: 64}}}
		if j := e.run(t, api.OpInstanceAdd, a); j.State != api.JobSuccess {
			t.Fatalf("add %s: %+v", n, j.Error)
		}
	}
	s := func(v string) *string { return &v }
	modify := func(name string, sip *string) api.InstanceModifyOp {
		return api.InstanceModifyOp{Name: name, InstanceModify: api.InstanceModify{ServiceIP: sip}}
	}
	if j := e.run(t, api.OpInstanceModify, modify("web1", s("192.0.2.20/24@br0"))); j.State != api.JobSuccess {
		t.Fatalf("set web1's service IP: %+v", j.Error)
	}
	if in, err := m.GetInstance(ctx(t), "web1"); err != nil || in.ServiceIP != "192.0.2.20/24@br0" {
		t.Fatalf("web1 after modify: service_ip %q (%v)", in.ServiceIP, err)
	}
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpClusterModify, api.ClusterModify{ClusterIP: s("192.0.2.10/24"), ClusterIPDev: s("dvtest9")}))
	if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("cluster IP: %+v", j.Error)
	}
	for name, tc := range map[string]struct {
		sip  string
		code api.Code
	}{
		"no device":      {"192.0.2.21/24", api.CodeWrongInput},
		"no prefix":      {"192.0.2.21@br0", api.CodeWrongInput},
		"IPv6":           {"2001:db8::1/64@br0", api.CodeWrongInput},
		"web1's address": {"192.0.2.20/25@eth1", api.CodeAlreadyExists},
		"the cluster IP": {"192.0.2.10/24@br0", api.CodeAlreadyExists},
	} {
		_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpInstanceModify, modify("web2", s(tc.sip)))}})
		if api.CodeOf(err) != tc.code {
			t.Errorf("%s (%s): %v, want %s", name, tc.sip, err, tc.code)
		}
	}
	if in, err := m.GetInstance(ctx(t), "web2"); err != nil || in.ServiceIP != "" {
		t.Errorf("web2 after refused modifies: service_ip %q (%v)", in.ServiceIP, err)
	}
	if j := e.run(t, api.OpInstanceModify, modify("web1", s(""))); j.State != api.JobSuccess {
		t.Fatalf("remove web1's service IP: %+v", j.Error)
	}
	if in, err := m.GetInstance(ctx(t), "web1"); err != nil || in.ServiceIP != "" {
		t.Fatalf("web1 after removal: service_ip %q (%v)", in.ServiceIP, err)
	}
}
