package master_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/master/store"
)

func TestThreeMastersElectionFencingResume(t *testing.T) {
	realtest.Short(t, "three embedded etcd members")
	c := mastertest.Start(t, mastertest.Options{Masters: 3, Extra: defaultExtra})
	l := c.WaitLeader(10 * time.Second)
	if n := countLeaders(c); n != 1 {
		t.Fatalf("%d leaders", n)
	}
	follower := c.Any(l)
	// Every master registered and its member answering (a busy machine can
	// take a while after the election).
	c.WaitHealthy(30 * time.Second)

	t.Run("info from a follower", func(t *testing.T) {
		ci, err := follower.ClusterInfo(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		_, epoch := c.Masters[l].M.Leading()
		if ci.Leader != c.Masters[l].Name || ci.Epoch != epoch || len(ci.Masters) != 3 {
			t.Fatalf("info %+v", ci)
		}
		for _, mi := range ci.Masters {
			if !mi.Healthy || mi.Leader != (mi.Name == ci.Leader) {
				t.Fatalf("master %+v", mi)
			}
		}
	})

	t.Run("resume after leader loss", func(t *testing.T) {
		// Submitted through a follower; the leader runs it.
		id := mastertest.Submit(t, follower, 0, mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "3s", Steps: 6}))
		mastertest.WaitJobState(t, follower, id, 10*time.Second, func(j *api.Job) bool { return j.OpStatus[0].StepsDone >= 2 })
		start := time.Now()
		c.Masters[l].M.Crash()
		nl := c.WaitLeaderOther(l, 10*time.Second)
		t.Logf("handover after crash: %v", time.Since(start))
		c.Kill(l)
		j := mastertest.WaitJob(t, c.Masters[nl].M, id, 20*time.Second)
		if j.State != api.JobSuccess || j.Runs != 2 || j.OpStatus[0].StepsDone != 6 {
			t.Fatalf("job %+v", j)
		}
		_, epoch := c.Masters[nl].M.Leading()
		if j.Epoch != epoch {
			t.Fatalf("job epoch %d, leader epoch %d", j.Epoch, epoch)
		}
		for i := 1; i <= 6; i++ {
			if n := countLog(j, fmt.Sprintf("step %d/6 done", i)); n != 1 {
				t.Fatalf("step %d logged %d times: %+v", i, n, j.Log)
			}
		}
		if countLog(j, "job resumed") != 1 {
			t.Fatalf("log %+v", j.Log)
		}
		rep, err := c.Masters[nl].M.ClusterVerify(ctx(t))
		if err != nil || rep.OK || !hasFinding(rep, "EMASTERDOWN") {
			t.Fatalf("verify with a master down: %+v %v", rep, err)
		}
		c.Restart(l)
		if n := countLeaders(c); n != 1 {
			t.Fatalf("%d leaders after restart", n)
		}
	})

	t.Run("deposed leader is fenced", func(t *testing.T) {
		l := c.WaitLeader(10 * time.Second)
		m := c.Masters[l].M
		_, epoch := m.Leading()
		cli := c.Any(l).Client()
		resp, err := cli.Get(ctx(t), keys.ElectionPrefix+"/", clientv3.WithFirstCreate()...)
		if err != nil || len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != epoch {
			t.Fatalf("election key: %v %+v", err, resp)
		}
		fence := store.Fence{Key: string(resp.Kvs[0].Key), Epoch: epoch}
		if _, err := fence.Txn(ctx(t), m.Client(), nil, clientv3.OpPut(keys.KeyPrefix+"fencetest", "1")); err != nil {
			t.Fatalf("write while leading: %v", err)
		}
		// Depose it behind its back, as an expired lease would.
		if _, err := cli.Delete(ctx(t), fence.Key); err != nil {
			t.Fatal(err)
		}
		_, err = fence.Txn(ctx(t), m.Client(), nil, clientv3.OpPut(keys.KeyPrefix+"fencetest", "2"))
		if !errors.Is(err, store.ErrFenced) {
			t.Fatalf("deposed write: %v, want ErrFenced", err)
		}
		// The deposed master stops leading at once, and someone leads again.
		deadline := time.Now().Add(5 * time.Second)
		for {
			ok, e := m.Leading()
			if !ok || e != epoch {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("deposed master still leads")
			}
			time.Sleep(10 * time.Millisecond)
		}
		nl := c.WaitLeader(10 * time.Second)
		if _, e := c.Masters[nl].M.Leading(); e <= epoch {
			t.Fatalf("new epoch %d not above %d", e, epoch)
		}
		if v, _ := cli.Get(ctx(t), keys.KeyPrefix+"fencetest"); string(v.Kvs[0].Value) != "1" {
			t.Fatalf("fenced write landed")
		}
	})
}

func countLeaders(c *mastertest.Cluster) int {
	n := 0
	for _, in := range c.Masters {
		if in.Running() {
			if ok, _ := in.M.Leading(); ok {
				n++
			}
		}
	}
	return n
}
