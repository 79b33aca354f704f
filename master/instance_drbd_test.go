package master_test

import (
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// Adds of plain and drbd instances that the nodes cannot take are refused at
// submit with a stable code, before any record or node command; failover,
// activate-disks of a file instance likewise. The nodes are stand-ins that
// publish a status with storage (the real agents with LVM and DRBD run in
// the node guests: TestVMNodesDRBD84/9 in cmd/drover).
func TestDRBDInputRefusedUpFront(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	status := func(node string, st *keys.NodeStorage) {
		e.si.putJSON(ctx(t), t, keys.NodeStatusKey(node), keys.NodeStatus{Hypervisor: "fake", HypervisorOK: true,
			Resources: api.NodeResources{MemoryTotalMiB: 4096, MemoryFreeMiB: 4096, DiskTotalMiB: 2048, DiskFreeMiB: 2048, CPUs: 4},
			Storage:   st, PublishedAt: time.Now().UTC(), StartedAt: time.Now().UTC()})
	}
	status("node1", &keys.NodeStorage{VG: "drover", VGSizeMiB: 2048, VGFreeMiB: 2048, DRBDVersion: "8.4.11"})
	status("node2", &keys.NodeStorage{VG: "drover", VGSizeMiB: 2048, VGFreeMiB: 100, DRBDVersion: "9.3.3"})
	add := func(f func(*api.InstanceAdd)) api.InstanceAdd {
		a := api.InstanceAdd{Name: "m1", DiskTemplate: "drbd", OS: "tiny", Node: "node1", SecondaryNode: "node2", NoInstall: true,
			VCPUs: 1, MemoryMiB: 128, Disks: []api.InstanceDisk{{SizeMiB: 64}}}
		f(&a)
		return a
	}
	submit := func(kind string, params any) error {
		_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, kind, params)}})
		return err
	}
	before := len(e.si.kinds())
	for name, tc := range map[string]struct {
		a    api.InstanceAdd
		code api.Code
		msg  string
	}{
		"primary only":          {add(func(a *api.InstanceAdd) { a.SecondaryNode = "" }), api.CodeWrongInput, "needs two nodes"},
		"same node twice":       {add(func(a *api.InstanceAdd) { a.SecondaryNode = "node1" }), api.CodeWrongInput, "must be different nodes"},
		"secondary for plain":   {add(func(a *api.InstanceAdd) { a.DiskTemplate = "plain" }), api.CodeWrongInput, "only for disk template drbd"},
		"no disk":               {add(func(a *api.InstanceAdd) { a.Disks = nil }), api.CodeWrongInput, "needs at least one disk"},
		"template install":      {add(func(a *api.InstanceAdd) { a.NoInstall = false }), api.CodeWrongInput, "--no-install"},
		"DRBD 8.4 with 9":       {add(func(a *api.InstanceAdd) { a.Disks[0].SizeMiB = 50 }), api.CodeWrongState, "same major version"},
		"secondary too full":    {add(func(a *api.InstanceAdd) { a.Disks[0].SizeMiB = 512 }), api.CodeInsufficientResources, "node2 has 100 MiB free"},
		"unknown secondary":     {add(func(a *api.InstanceAdd) { a.SecondaryNode = "node9" }), api.CodeUnknownEntity, "node9"},
		"plain without a VG":    {add(func(a *api.InstanceAdd) { a.DiskTemplate, a.SecondaryNode, a.Node = "plain", "", "node3" }), api.CodeUnknownEntity, "node3"},
		"no wait for plain":     {add(func(a *api.InstanceAdd) { a.DiskTemplate, a.SecondaryNode, a.NoWaitForSync = "plain", "", true }), api.CodeWrongInput, "only for disk template drbd"},
		"secondary, no primary": {add(func(a *api.InstanceAdd) { a.Node = "" }), api.CodeWrongInput, "needs the primary too"},
	} {
		err := submit(api.OpInstanceAdd, tc.a)
		if api.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %s with %q", name, err, tc.code, tc.msg)
		}
	}
	// A node without a volume group cannot take plain disks.
	status("node1", nil)
	if err := submit(api.OpInstanceAdd, add(func(a *api.InstanceAdd) { a.DiskTemplate, a.SecondaryNode = "plain", "" })); api.CodeOf(err) != api.CodeWrongState ||
		!strings.Contains(err.Error(), "no volume group") {
		t.Errorf("plain on a node without a VG: %v", err)
	}
	if got := e.si.kinds()[before:]; len(got) != 0 {
		t.Errorf("refused adds sent node commands: %v", got)
	}
	if resp, err := m.Client().Get(ctx(t), keys.InstancesPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count != 0 {
		t.Fatalf("refused adds left %v instance records (%v)", resp, err)
	}
	// Failover and disk verbs of an instance without block disks.
	if j := e.run(t, api.OpInstanceAdd, api.InstanceAdd{Name: "f1", DiskTemplate: "diskless", OS: "tiny", Node: "node1", VCPUs: 1, MemoryMiB: 128}); j.State != api.JobSuccess {
		t.Fatalf("add f1: %+v", j.Error)
	}
	for kind, params := range map[string]any{
		api.OpInstanceFailover:        api.InstanceFailover{Name: "f1"},
		api.OpInstanceActivateDisks:   api.InstanceActivateDisks{Name: "f1"},
		api.OpInstanceDeactivateDisks: api.InstanceName{Name: "f1"},
	} {
		if err := submit(kind, params); api.CodeOf(err) != api.CodeWrongState || !strings.Contains(err.Error(), "disk template diskless") {
			t.Errorf("%s of a diskless instance: %v", kind, err)
		}
	}
}

// Failover refuses, before any command, a primary that is only unreachable
// (it may still write) and a secondary that is not UpToDate.
func TestDRBDFailoverRefusals(t *testing.T) {
	e := startStandInEnv(t)
	m := e.m
	// A drbd record as instance add writes it, primary node2 (no agent:
	// unreachable), secondary node1 (the stand-in).
	rec := keys.InstanceRecord{Name: "m1", UUID: "5b0c3f36-8d7e-4d53-9a55-0f1f6f3a9e11", PrimaryNode: "node2", OS: "tiny", OSVersion: 1,
		Hypervisor: "fake", DiskTemplate: "drbd", VCPUs: 1, MemoryMiB: 128, AdminUp: true,
		Disks: []keys.DiskSpec{{SizeMiB: 64, DRBD: &keys.DRBDDisk{Resource: "m1-d0", Port: 11000, Secret: "c2VjcmV0",
			Nodes: []keys.DRBDNode{{Node: "node2", IP: "198.18.0.2", Minor: 0}, {Node: "node1", IP: "198.18.0.1", Minor: 0, NodeID: 1}}}}}}
	e.si.putJSON(ctx(t), t, keys.InstanceKey("m1"), rec)
	e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node1"), keys.DRBDState{Version: "8.4.11", ObservedAt: time.Now().UTC(),
		Resources: []keys.DRBDResource{{Name: "m1-d0", Role: "Secondary", Disk: "UpToDate", Peers: []keys.DRBDPeer{{Name: "peer", Connection: "Connecting"}}}}})
	submit := func() error {
		_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpInstanceFailover, api.InstanceFailover{Name: "m1"})}})
		return err
	}
	before, yes := len(e.si.kinds()), true
	if err := submit(); api.CodeOf(err) != api.CodeWrongState || !strings.Contains(err.Error(), "neither marked offline nor fenced") {
		t.Errorf("failover from an unreachable primary: %v", err)
	}
	if j := e.run(t, api.OpNodeModify, api.NodeModifyOp{Name: "node2", NodeModify: api.NodeModify{Offline: &yes}}); j.State != api.JobSuccess {
		t.Fatalf("node modify --offline: %+v", j.Error)
	}
	e.si.putJSON(ctx(t), t, keys.NodeDRBDKey("node1"), keys.DRBDState{Version: "8.4.11", ObservedAt: time.Now().UTC(),
		Resources: []keys.DRBDResource{{Name: "m1-d0", Role: "Secondary", Disk: "Outdated"}}})
	if err := submit(); api.CodeOf(err) != api.CodeWrongState || !strings.Contains(err.Error(), "not UpToDate") ||
		!strings.Contains(err.Error(), "--ignore-consistency") {
		t.Errorf("failover to an Outdated secondary: %v", err)
	}
	if got := e.si.kinds()[before:]; len(got) != 0 {
		t.Errorf("refused failovers sent node commands: %v", got)
	}
}
