package master_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// Input that the node could never take is refused when the job is
// submitted, with a stable code, before any record is written or any command
// sent to a node: issue 7, point 7.
func TestInstanceInputRefusedUpFront(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	// node1 is a 2-CPU, 16 GiB KVM node with one bridge.
	e.si.putJSON(ctx(t), t, keys.NodeStatusKey("node1"), keys.NodeStatus{Hypervisor: "kvm", HypervisorOK: true,
		Resources: api.NodeResources{MemoryTotalMiB: 16384, MemoryFreeMiB: 16000, DiskTotalMiB: 10240, DiskFreeMiB: 10240, CPUs: 2},
		Bridges:   []string{"br0"}, BridgesReported: true, PublishedAt: time.Now().UTC(), StartedAt: time.Now().UTC()})
	submit := func(kind string, params any) error {
		_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, kind, params)}})
		return err
	}
	add := func(f func(*api.InstanceAdd)) api.InstanceAdd {
		a := api.InstanceAdd{Name: "in1", DiskTemplate: "file", OS: "tiny", Node: "node1", VCPUs: 1, MemoryMiB: 128,
			Disks: []api.InstanceDisk{{SizeMiB: 64}}}
		f(&a)
		return a
	}
	before := len(e.si.kinds())
	for name, tc := range map[string]struct {
		a    api.InstanceAdd
		code api.Code
		msg  string
	}{
		"vcpus over the node's CPUs": {add(func(a *api.InstanceAdd) { a.VCPUs = 64 }), api.CodeInsufficientResources, "has 2 CPUs"},
		"vcpus, allocator": {add(func(a *api.InstanceAdd) { a.VCPUs, a.Node = 64, "" }), api.CodeInsufficientResources,
			"node1: has 2 CPUs, instance wants 64 vcpus"},
		"hypervisor no node has": {add(func(a *api.InstanceAdd) { a.Hypervisor, a.Node = "lxc", "" }), api.CodeWrongInput,
			"no node runs hypervisor lxc (the nodes run: kvm)"},
		"missing bridge":            {add(func(a *api.InstanceAdd) { a.NICs = []api.InstanceNIC{{Link: "br9"}} }), api.CodeWrongInput, "no bridge br9"},
		"missing bridge, allocator": {add(func(a *api.InstanceAdd) { a.NICs, a.Node = []api.InstanceNIC{{Link: "br9"}}, "" }), api.CodeInsufficientResources, "has no bridge br9"},
		"1 MiB disk":                {add(func(a *api.InstanceAdd) { a.Disks[0].SizeMiB = 1 }), api.CodeWrongInput, "not in 8.."},
		"disk too small for the template": {add(func(a *api.InstanceAdd) { a.Disks[0].SizeMiB = 16 }), api.CodeWrongInput,
			"too small for template tiny@1"},
		"182-character name": {add(func(a *api.InstanceAdd) {
			a.Name = strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60)
		}),
			api.CodeWrongInput, "longer than 63"},
	} {
		err := submit(api.OpInstanceAdd, tc.a)
		if api.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %s with %q", name, err, tc.code, tc.msg)
		}
	}
	// Duplicate keys in the params (as a client that builds JSON by hand
	// might send): refused, not "last one wins".
	_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{{Kind: api.OpInstanceAdd,
		Params: json.RawMessage(`{"name":"in1","disk_template":"diskless","os":"tiny","node":"node1","vcpus":1,"memory_mib":128,"vcpus":64}`)}}})
	if api.CodeOf(err) != api.CodeWrongInput || !strings.Contains(err.Error(), "duplicate key") {
		t.Errorf("duplicate key: %v", err)
	}
	if got := e.si.kinds()[before:]; len(got) != 0 {
		t.Errorf("refused adds sent node commands: %v", got)
	}
	if resp, err := m.Client().Get(ctx(t), keys.InstancesPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count != 0 {
		t.Fatalf("refused adds left %v instance records (%v)", resp, err)
	}

	// A fitting instance, then what would not fit next to it.
	if j := e.run(t, api.OpInstanceAdd, add(func(a *api.InstanceAdd) { a.Name, a.VCPUs, a.NICs = "web1", 2, []api.InstanceNIC{{Link: "br0"}} })); j.State != api.JobSuccess {
		t.Fatalf("add web1: %+v", j.Error)
	}
	if err := submit(api.OpInstanceAdd, add(func(a *api.InstanceAdd) { a.Name = "WEB1" })); api.CodeOf(err) != api.CodeAlreadyExists ||
		!strings.Contains(err.Error(), "without regard to case") {
		t.Errorf("WEB1 next to web1: %v", err)
	}
	// vcpu ratio: with ratio 1, the 2 CPUs are taken by web1's 2 vcpus.
	var cr keys.ClusterRecord
	resp, err := m.Client().Get(ctx(t), keys.ClusterKey)
	if err != nil || len(resp.Kvs) != 1 || json.Unmarshal(resp.Kvs[0].Value, &cr) != nil {
		t.Fatalf("read cluster: %v", err)
	}
	cr.VCPURatio = 1
	e.si.putJSON(ctx(t), t, keys.ClusterKey, cr)
	if err := submit(api.OpInstanceAdd, add(func(a *api.InstanceAdd) { a.Name = "web2" })); api.CodeOf(err) != api.CodeInsufficientResources ||
		!strings.Contains(err.Error(), "vcpu ratio 1") {
		t.Errorf("add past the vcpu ratio: %v", err)
	}
	// Modify: memory against the node's total, vcpus against its CPUs; the
	// instance's own vcpus do not count against it.
	mem, vcpus, two := int64(64<<10), 64, 2
	for name, tc := range map[string]struct {
		mod  api.InstanceModify
		code api.Code
	}{
		"memory=64G on a 16 GiB node": {api.InstanceModify{MemoryMiB: &mem}, api.CodeInsufficientResources},
		"vcpus=64 on a 2-CPU node":    {api.InstanceModify{VCPUs: &vcpus}, api.CodeInsufficientResources},
	} {
		if err := submit(api.OpInstanceModify, api.InstanceModifyOp{Name: "web1", InstanceModify: tc.mod}); api.CodeOf(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	if j := e.run(t, api.OpInstanceModify, api.InstanceModifyOp{Name: "web1", InstanceModify: api.InstanceModify{VCPUs: &two}}); j.State != api.JobSuccess {
		t.Errorf("modify to the same vcpus: %+v", j.Error)
	}
	in, err := m.GetInstance(ctx(t), "web1")
	if err != nil || in.MemoryMiB != 128 || in.VCPUs != 2 {
		t.Errorf("after refused modifies: %+v %v", in, err)
	}

	if err := submit(api.OpNodeAdd, api.NodeAdd{Name: "NODE1"}); api.CodeOf(err) != api.CodeAlreadyExists {
		t.Errorf("node NODE1 next to node1: %v", err)
	}
	// A user cannot take a node agent's identity.
	for _, n := range []string{"node.node1", "Node.node2"} {
		if _, err := m.AddUser(ctx(t), api.UserAdd{Name: n, Role: api.RoleAdmin}); api.CodeOf(err) != api.CodeWrongInput {
			t.Errorf("user %s: %v, want wrong_input", n, err)
		}
	}
}
