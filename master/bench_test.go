package master_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// BenchmarkJobSubmitToRunning measures the time from SubmitJob to the job
// being seen running (or done) by a waiter.
func BenchmarkJobSubmitToRunning(b *testing.B) {
	c := mastertest.Start(b, mastertest.Options{})
	m := c.Masters[0].M
	op := mastertest.Op(b, api.OpDebugDelay, api.DebugDelay{Duration: "0s"})
	b.ResetTimer()
	for b.Loop() {
		id := mastertest.Submit(b, m, 0, op)
		mastertest.WaitJobState(b, m, id, 10*time.Second, func(j *api.Job) bool {
			return j.State != api.JobQueued && j.State != api.JobWaiting
		})
	}
}

// BenchmarkNodeList1000 lists 1000 registered nodes, half of them online.
func BenchmarkNodeList1000(b *testing.B) {
	c := mastertest.Start(b, mastertest.Options{})
	m := c.Masters[0].M
	cx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ops []clientv3.Op
	flush := func() {
		if _, err := m.Client().Txn(cx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
		ops = ops[:0]
	}
	for i := range 1000 {
		name := fmt.Sprintf("node%04d", i)
		rec, _ := json.Marshal(keys.NodeRecord{Name: name, UUID: name, Group: "default", VMCapable: true, AddedAt: time.Now()})
		ops = append(ops, clientv3.OpPut(keys.NodeKey(name), string(rec)))
		if i%2 == 0 {
			st, _ := json.Marshal(keys.NodeStatus{Hypervisor: "fake", HypervisorOK: true, PublishedAt: time.Now()})
			ops = append(ops, clientv3.OpPut(keys.NodeStatusKey(name), string(st)))
		}
		if len(ops) >= 100 {
			flush()
		}
	}
	flush()
	b.ResetTimer()
	for b.Loop() {
		nodes, err := m.ListNodes(cx)
		if err != nil || len(nodes) != 1000 {
			b.Fatalf("%d nodes, %v", len(nodes), err)
		}
	}
}

// BenchmarkLeaderHandover kills the leader of three masters (no resign, no
// etcd leadership transfer) and measures until another master leads.
func BenchmarkLeaderHandover(b *testing.B) {
	c := mastertest.Start(b, mastertest.Options{Masters: 3, TickMs: 100, ElectionMs: 500})
	c.WaitHealthy(30 * time.Second)
	var total, worst time.Duration
	b.ResetTimer()
	for b.Loop() {
		l := c.WaitLeader(10 * time.Second)
		start := time.Now()
		c.Masters[l].M.Crash()
		c.WaitLeaderOther(l, 15*time.Second)
		d := time.Since(start)
		total += d
		worst = max(worst, d)
		b.StopTimer()
		c.Kill(l) // reap the crashed master
		c.Restart(l)
		c.WaitHealthy(30 * time.Second)
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/handover")
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
}
