package master

import (
	"testing"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// uplinkView is three online nodes; big has the most free memory.
func uplinkView(lost ...string) (*clusterView, map[string]*nodeAgentStatus) {
	v := &clusterView{nodes: map[string]*keys.NodeRecord{}, alive: map[string]bool{}, status: map[string]*keys.NodeStatus{}}
	statuses := map[string]*nodeAgentStatus{}
	for name, free := range map[string]int64{"big": 8192, "mid": 4096, "small": 2048} {
		v.nodes[name] = &keys.NodeRecord{Name: name, VMCapable: true}
		v.alive[name] = true
		st := &keys.NodeStatus{Hypervisor: "kvm", HypervisorOK: true, Uplink: &api.UplinkStatus{OK: true},
			Resources: api.NodeResources{MemoryTotalMiB: 8192, MemoryFreeMiB: free, DiskTotalMiB: 8192, DiskFreeMiB: 8192, CPUs: 4}}
		v.status[name] = st
		statuses[name] = &nodeAgentStatus{Hypervisor: "kvm", HypervisorOK: true, Resources: st.Resources}
	}
	for _, n := range lost {
		v.status[n].Uplink.OK = false
	}
	return v, statuses
}

func allocateUplink(t *testing.T, v *clusterView, statuses map[string]*nodeAgentStatus, mem int64) (allocator.AllocateResult, error) {
	t.Helper()
	var res allocator.AllocateResult
	err := placePreferringUplink(v, allocSpec(v, statuses, "kvm"), func(c *allocator.Cluster) error {
		var err error
		res, err = c.Allocate(allocator.AllocateRequest{Name: "new", Mem: mem, Disk: 1024, VCPUs: 1, Template: allocator.TemplatePlain})
		return err
	})
	return res, err
}

// TestAllocatePrefersNodesWithUplink: a node whose uplink is lost is not
// chosen while another fits, and is chosen when it alone fits.
func TestAllocatePrefersNodesWithUplink(t *testing.T) {
	v, st := uplinkView()
	res, err := allocateUplink(t, v, st, 1024)
	if err != nil || res.Primary != "big" {
		t.Fatalf("all uplinks up: %+v %v, want big (the most free memory)", res, err)
	}
	v, st = uplinkView("big")
	res, err = allocateUplink(t, v, st, 1024)
	if err != nil || res.Primary == "big" || res.Primary == "" {
		t.Fatalf("big's uplink lost: %+v %v, want another node", res, err)
	}
	// Only big has room for 6 GiB: placed there all the same.
	res, err = allocateUplink(t, v, st, 6144)
	if err != nil || res.Primary != "big" {
		t.Fatalf("only big fits, its uplink lost: %+v %v, want big", res, err)
	}
	// Too big for any node: the fit error of the whole cluster.
	if _, err = allocateUplink(t, v, st, 16384); err == nil {
		t.Fatal("16 GiB placed on 8 GiB nodes")
	}
}
