package master_test

import (
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/mastertest"
)

// TestClusterModifyClusterIP: cluster.modify sets and removes the cluster IP
// in the cluster record (cluster info shows it); bad input is refused at
// submit and changes nothing. The device named exists nowhere, so the
// leader's attempts to take the address fail (logged) and touch no host
// device; taking it is tested in network namespaces (cmd/drover,
// TestClusterIPFollowsLeaderNetns).
func TestClusterModifyClusterIP(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{Masters: 1})
	m := c.Masters[0].M
	s := func(v string) *string { return &v }
	info := func() *api.ClusterInfo {
		t.Helper()
		ci, err := m.ClusterInfo(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		return ci
	}
	for _, bad := range []api.ClusterModify{
		{},
		{ClusterIP: s("192.0.2.10")},
		{ClusterIP: s("192.0.2.10/24")}, // no device in the record yet
		{ClusterIPDev: s("dvtest9")},    // no address in the record yet
		{ClusterIP: s("192.0.2.10/24"), ClusterIPDev: s("bad/dev")},
		{ClusterIP: s(""), ClusterIPDev: s("dvtest9")},
	} {
		_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpClusterModify, bad)}})
		if api.CodeOf(err) != api.CodeWrongInput {
			t.Errorf("cluster.modify %+v: err %v, want wrong_input", bad, err)
		}
	}
	if ci := info(); ci.ClusterIP != "" || ci.ClusterIPDev != "" {
		t.Fatalf("refused changes changed the record: %+v", ci)
	}
	run := func(p api.ClusterModify) {
		t.Helper()
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpClusterModify, p))
		if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
			t.Fatalf("cluster.modify %+v: %+v", p, j.Error)
		}
	}
	run(api.ClusterModify{ClusterIP: s("192.0.2.10/24"), ClusterIPDev: s("dvtest9")})
	if ci := info(); ci.ClusterIP != "192.0.2.10/24" || ci.ClusterIPDev != "dvtest9" {
		t.Fatalf("after set: cluster_ip %q dev %q", ci.ClusterIP, ci.ClusterIPDev)
	}
	run(api.ClusterModify{ClusterIP: s("192.0.2.11/24")})
	if ci := info(); ci.ClusterIP != "192.0.2.11/24" || ci.ClusterIPDev != "dvtest9" {
		t.Fatalf("after a new address: cluster_ip %q dev %q", ci.ClusterIP, ci.ClusterIPDev)
	}
	run(api.ClusterModify{ClusterIP: s("")})
	if ci := info(); ci.ClusterIP != "" || ci.ClusterIPDev != "" {
		t.Fatalf("after removal: cluster_ip %q dev %q", ci.ClusterIP, ci.ClusterIPDev)
	}
}
