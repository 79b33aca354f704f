package master_test

import (
	"context"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// TestUplinkMigratesAway: db1 runs on node1 (the fake DRBD pair of
// migrate_drbd_test.go). node1's agent reports its uplink lost for a
// minute. Nothing moves while node2's uplink is lost too (no better node)
// or while the cluster says --uplink-migrate off; once node2's is up and
// migration is on, the leader live-migrates db1 to node2 by itself, in the
// DRBD pair's rules (never two writers).
func TestUplinkMigratesAway(t *testing.T) {
	m, p := startDRBDPair(t)
	ctx := context.Background()
	now := time.Now().UTC()
	status := func(node string, ok bool) {
		p.put(ctx, keys.NodeStatusKey(node), keys.NodeStatus{Hypervisor: "workload", HypervisorOK: true,
			Resources:   api.NodeResources{MemoryTotalMiB: 1024, MemoryFreeMiB: 1024, DiskTotalMiB: 2048, DiskFreeMiB: 2048, CPUs: 1},
			PublishedAt: time.Now().UTC(), StartedAt: now,
			Uplink: &api.UplinkStatus{Targets: []string{"198.51.100.1"}, OK: ok, Since: now.Add(-time.Minute), CheckedAt: now}})
	}
	modify := func(req api.ClusterModify) {
		t.Helper()
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpClusterModify, req))
		if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
			t.Fatalf("cluster modify: %s %+v", j.State, j.Error)
		}
	}
	status("node1", false)
	status("node2", false)
	if got := m.UplinkOnce(ctx, time.Now()); len(got) != 0 {
		t.Fatalf("no ping targets configured, yet migrations of %v", got)
	}
	off := false
	modify(api.ClusterModify{PingTargets: map[string][]string{"default": {"198.51.100.1"}}, UplinkMigrate: &off})
	ci, err := m.ClusterInfo(ctx)
	if err != nil || ci.PingTargets["default"][0] != "198.51.100.1" || ci.UplinkMigrate {
		t.Fatalf("cluster info after modify: %+v %v", ci, err)
	}
	if got := m.UplinkOnce(ctx, time.Now()); len(got) != 0 {
		t.Fatalf("uplink migration off, yet migrations of %v", got)
	}
	on := true
	modify(api.ClusterModify{UplinkMigrate: &on})
	if got := m.UplinkOnce(ctx, time.Now()); len(got) != 0 {
		t.Fatalf("node2's uplink is lost too, yet migrations of %v", got)
	}
	if r := recordOf(t, m); r.PrimaryNode != "node1" {
		t.Fatalf("db1 moved to %s with no better node", r.PrimaryNode)
	}
	status("node2", true)
	mastertest.WaitFor(t, 60*time.Second, "db1 migrated to node2 by the uplink controller", func() bool {
		return recordOf(t, m).PrimaryNode == "node2"
	})
	p.check(t, "node2")
	jobs, err := m.ListJobs(ctx, api.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jobs {
		if j.Submitter == "uplink" && j.Ops[0].Kind == api.OpInstanceMigrate {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d migration jobs by the uplink controller, want 1", n)
	}
}
