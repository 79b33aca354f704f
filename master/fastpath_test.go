package master_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/fence/ipmisim"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
)

// TestFastPathDeadNode: the leader's fast path for a dead node, end to
// end with a real ipmi_sim BMC and fence_ipmilan. node1 is a stand-in
// that holds a lease of TTL 10 s as an agent does (its status key on the
// lease, renewed every 2 s); "power-off": the renewals stop and the BMC's
// hardware goes off. The leader finds the lease late (TimeToLive), the
// BMC says off, and node1 goes online -> fencing (power off confirmed by
// the fence device) -> fenced -> offline without a suspect delay; the
// lease is revoked. About 15 s.
func TestFastPathDeadNode(t *testing.T) {
	if err := ipmisim.Check(); err != nil {
		hvtest.SkipOrFail(t, err.Error())
	}
	c := mastertest.Start(t, mastertest.Options{API: true, NodeLeaseTTL: 10})
	m := c.Masters[c.WaitLeader(30*time.Second)].M
	cl := haClient(t, c, m)
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "node1"}))
	if j := mastertest.WaitJob(t, m, id, 30*time.Second); j.State != api.JobSuccess {
		t.Fatalf("node add: %+v", j.Error)
	}
	bmc, power := master.StartFileBMC(t, "node1", "Fast-Pw-32")
	dev := bmc.Device()
	if _, err := cl.SetNodeFence(ctx(t), "node1", &api.NodeFence{Agent: dev.Agent, Params: dev.Params}); err != nil {
		t.Fatalf("set fence device: %v", err)
	}

	// The stand-in's lease, status and renewals.
	ec := m.Client()
	lease, err := ec.Grant(ctx(t), 10)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(keys.NodeStatus{Hypervisor: "fake", HypervisorOK: true})
	if _, err := ec.Put(ctx(t), keys.NodeStatusKey("node1"), string(st), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	renew, stop := context.WithCancel(context.Background())
	defer stop()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		for renew.Err() == nil {
			_, _ = ec.KeepAliveOnce(renew, lease.ID)
			select {
			case <-renew.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}()
	mastertest.WaitFor(t, 30*time.Second, "node1 online", func() bool {
		n, err := m.GetNode(context.Background(), "node1")
		return err == nil && n.Status == api.NodeOnline
	})
	stop()
	<-renewed
	t0 := time.Now()
	power("0")
	mastertest.WaitFor(t, 60*time.Second, "node1 offline", func() bool {
		n, err := m.GetNode(context.Background(), "node1")
		return err == nil && n.Status == api.NodeOffline
	})
	n1, err := cl.GetNode(ctx(t), "node1")
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	reason := ""
	for _, tr := range n1.Health.Transitions {
		states = append(states, tr.State)
		if tr.State == api.NodeFencing {
			reason = tr.Reason
		}
	}
	got := strings.Join(states, ",")
	// Whether the device's answer came before the lease expired depends on
	// the machine's load; either way the suspect delay is skipped.
	if reason != "power off confirmed by the fence device" || strings.Contains(got, api.NodeSuspect) || !strings.HasSuffix(got, "fencing,fenced,offline") {
		t.Fatalf("node1 transitions %s, fencing reason %q", got, reason)
	}
	if f := n1.Health.LastFence; f == nil || !f.OK || f.Power != "off" {
		t.Fatalf("node1 last fence: %+v", n1.Health.LastFence)
	}
	ttl, err := ec.TimeToLive(ctx(t), lease.ID)
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("node1's lease after the fence: %+v %v", ttl, err)
	}
	t.Logf("node1 from the last renewal to offline: %v; transitions %s", time.Since(t0).Round(time.Millisecond), got)
}
