package master

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence"
	"github.com/drover-project/drover/master/keys"
)

// fastFake is a fastPath on the clockFSM's clock with fake leases and
// fence devices; spawned jobs wait in jobs until run.
type fastFake struct {
	*clockFSM
	fp *fastPath
	mu sync.Mutex
	// remaining TTL by lease (granted 10 s); ttlErr fails every read.
	remaining map[int64]int64
	ttlErr    error
	ttlReads  int
	power     map[string]fence.Power
	asked     map[string]int
	jobs      []func() func()
	observed  map[fence.Power]int
	// dropped: the nodes whose instances' secondaries were told to drop
	// them (dropPeers), in order.
	dropped []string
}

func newFastFake(t *testing.T) *fastFake {
	f := &fastFake{clockFSM: newClockFSM(t), remaining: map[int64]int64{}, power: map[string]fence.Power{},
		asked: map[string]int{}, observed: map[fence.Power]int{}}
	// The default timing of a node guest: TTL 10 s, renewals every 2 s,
	// late after 3 s.
	f.timing = keys10()
	f.lv = newLiveness(f.timing, func() time.Time { return f.now })
	f.fp = &fastPath{ctx: context.Background(), timing: f.timing, now: func() time.Time { return f.now },
		log: slog.New(slog.DiscardHandler),
		ttl: func(_ context.Context, lease int64) (int64, int64, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.ttlReads++
			if f.ttlErr != nil {
				return 0, 0, f.ttlErr
			}
			return 10, f.remaining[lease], nil
		},
		devices: func(context.Context) (map[string]fence.Device, error) {
			out := map[string]fence.Device{}
			for n, has := range f.device {
				if has {
					out[n] = fence.Device{Agent: "fence_fake", Params: map[string]string{"node": n}}
				}
			}
			return out, nil
		},
		power: func(_ context.Context, d fence.Device) (fence.Power, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			n := d.Params["node"]
			f.asked[n]++
			if p, ok := f.power[n]; ok {
				return p, nil
			}
			return fence.PowerUnknown, errors.New("BMC unreachable")
		},
		spawn:   func(job func() func()) { f.jobs = append(f.jobs, job) },
		observe: func(p fence.Power) { f.observed[p]++ },
	}
	f.fp.dropPeers = func(_ context.Context, node string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.dropped = append(f.dropped, node)
	}
	return f
}

// probe runs one round at the current time with every job it spawns (the
// BMC reads too) and the step that follows each result, as the loop does;
// it returns the actions.
func (f *fastFake) probe() []livenessAction {
	f.fp.start(f.lv)
	var acts []livenessAction
	for len(f.jobs) > 0 {
		job := f.jobs[0]
		f.jobs = f.jobs[1:]
		job()()
		acts = append(acts, f.lv.step(func(n string) bool { return f.device[n] })...)
	}
	return acts
}

// online makes node online with lease.
func (f *fastFake) online(node string, lease int64) {
	f.lv.seen(node, false)
	f.lv.setLease(node, lease)
}

// TestLeaseLate: late exactly when the lease has certainly not been
// renewed for Renew + max(1 s, TTL/10), from etcd's truncated answer; a
// lease that is gone is late.
func TestLeaseLate(t *testing.T) {
	tm := keys10()
	if got := lateAfter(tm); got != 3*time.Second {
		t.Fatalf("late after %v at TTL 10 s, want 3s", got)
	}
	for _, c := range []struct {
		remaining int64
		late      bool
	}{{10, false}, {9, false}, {8, false}, {7, false}, {6, true}, {0, true}, {-1, true}} {
		if late, _ := leaseLate(tm, 10, c.remaining); late != c.late {
			t.Errorf("remaining %d of 10: late %v, want %v", c.remaining, late, c.late)
		}
	}
}

// TestFastPathLateAndOffFencesAtOnce: a late node whose device says off
// goes online -> fencing (power off confirmed) at once, without its lease
// expiring and without the suspect delay; the normal power-off runs (and
// revokes the lease), then fenced and failover.
func TestFastPathLateAndOffFencesAtOnce(t *testing.T) {
	f := newFastFake(t)
	f.device["n1"], f.device["n2"] = true, true
	f.online("n1", 0x71)
	f.online("n2", 0x72)
	f.online("bare", 0x73) // no device: not even read
	f.remaining[0x71], f.remaining[0x72] = 9, 9
	if a := f.probe(); len(a) != 0 || len(f.asked) != 0 {
		t.Fatalf("renewed leases: actions %v, devices asked %v", a, f.asked)
	}
	if f.ttlReads != 2 {
		t.Fatalf("%d TTL reads, want 2 (only nodes with a device)", f.ttlReads)
	}
	f.now = f.now.Add(4 * time.Second)
	f.remaining[0x71] = 5 // n1 stopped renewing 4-5 s ago
	f.power["n1"], f.power["n2"] = fence.PowerOff, fence.PowerOn
	a := f.probe()
	if len(a) != 1 || a[0] != (livenessAction{node: "n1", kind: actStonith, revoke: 0x71}) {
		t.Fatalf("actions: %v", a)
	}
	f.want("n1", api.NodeFencing)
	if r := f.lv.nodes["n1"].rec; r.Reason != reasonPowerOffConfirmed || r.LeaseLostAt.IsZero() || r.Transitions[len(r.Transitions)-2].State != api.NodeOnline {
		t.Fatalf("n1's record: %+v", r)
	}
	if f.asked["n2"] != 0 || f.observed[fence.PowerOff] != 1 {
		t.Fatalf("asked %v, observed %v", f.asked, f.observed)
	}
	f.want("n2", api.NodeOnline)
	// The secondaries drop n1 while its STONITH runs; n2 (on) is left alone.
	if len(f.dropped) != 1 || f.dropped[0] != "n1" {
		t.Fatalf("dead primaries dropped: %v, want [n1]", f.dropped)
	}
	f.lv.lost("n1") // the revoke's delete event: changes nothing
	f.lv.fenceDone("n1", api.FenceResult{Action: "off", OK: true, Power: "off", Output: "Already OFF"}, nil)
	f.want("n1", api.NodeFenced)
	if a := f.step(f.now); len(a) != 1 || a[0].kind != actFailover {
		t.Fatalf("no failover after the fast path's fence: %v", a)
	}
}

// TestFastPathLateButOnChangesNothing: a late node whose device says on
// (an isolated node, a crashed agent, a stalled etcd member), or whose
// device does not answer, stays online; it is asked at most every
// bmcStatusEvery; when its lease then expires the normal path runs as
// before (unreachable, suspect after SuspectAfter, STONITH).
func TestFastPathLateButOnChangesNothing(t *testing.T) {
	f := newFastFake(t)
	f.device["n1"], f.device["n2"] = true, true
	f.online("n1", 1)
	f.online("n2", 2)
	f.remaining[1], f.remaining[2] = 4, 4
	f.power["n1"] = fence.PowerOn // n2: the BMC does not answer
	if a := f.probe(); len(a) != 0 {
		t.Fatalf("actions: %v", a)
	}
	f.want("n1", api.NodeOnline)
	f.want("n2", api.NodeOnline)
	if !f.lv.nodes["n1"].late || f.asked["n1"] != 1 || f.asked["n2"] != 1 {
		t.Fatalf("late %v, asked %v", f.lv.nodes["n1"].late, f.asked)
	}
	f.now = f.now.Add(bmcStatusEvery - time.Millisecond)
	f.probe()
	if f.asked["n1"] != 1 {
		t.Fatalf("asked again within %v: %v", bmcStatusEvery, f.asked)
	}
	f.now = f.now.Add(time.Millisecond)
	f.probe()
	if f.asked["n1"] != 2 || f.observed[fence.PowerOn] != 2 || f.observed[fence.PowerUnknown] != 2 {
		t.Fatalf("asked %v, observed %v", f.asked, f.observed)
	}
	f.want("n1", api.NodeOnline)
	if len(f.dropped) != 0 {
		t.Fatalf("peers told to drop a node that is on or unknown: %v", f.dropped)
	}
	t0 := f.now
	f.lv.lost("n1")
	f.power["n1"] = fence.PowerOn
	f.now = t0.Add(f.timing.SuspectAfter() - time.Nanosecond)
	if a := f.probe(); len(a) != 0 {
		t.Fatalf("actions before SuspectAfter: %v", a)
	}
	f.want("n1", api.NodeUnreachable)
	a := f.step(t0.Add(f.timing.SuspectAfter()))
	f.want("n1", api.NodeFencing)
	if len(a) != 1 || a[0] != (livenessAction{node: "n1", kind: actStonith}) {
		t.Fatalf("normal path's STONITH: %v", a)
	}
}

// TestFastPathNoInformation: a TimeToLive that fails (a stalled member,
// lost quorum) is no information: nothing is late, no device is asked.
func TestFastPathNoInformation(t *testing.T) {
	f := newFastFake(t)
	f.device["n1"] = true
	f.online("n1", 1)
	f.remaining[1] = 0
	f.power["n1"] = fence.PowerOff
	f.ttlErr = errors.New("etcdserver: request timed out")
	for range 3 {
		if a := f.probe(); len(a) != 0 {
			t.Fatalf("actions: %v", a)
		}
		f.now = f.now.Add(time.Second)
	}
	if f.ttlReads != 3 || len(f.asked) != 0 || f.lv.nodes["n1"].late {
		t.Fatalf("reads %d, asked %v, late %v", f.ttlReads, f.asked, f.lv.nodes["n1"].late)
	}
	f.want("n1", api.NodeOnline)
}

// TestFastPathRevokedLeaseButOn: a lease revoked early (a resumed etcd
// leader revoking what it saw expire) reads as gone, so late; the device
// says on: nothing changes, the node is not fenced.
func TestFastPathRevokedLeaseButOn(t *testing.T) {
	f := newFastFake(t)
	f.device["n1"] = true
	f.online("n1", 1)
	f.remaining[1] = -1
	f.power["n1"] = fence.PowerOn
	if a := f.probe(); len(a) != 0 {
		t.Fatalf("actions: %v", a)
	}
	f.want("n1", api.NodeOnline)
	if f.asked["n1"] != 1 || !f.lv.nodes["n1"].late {
		t.Fatalf("asked %v, late %v", f.asked, f.lv.nodes["n1"].late)
	}
	// Its agent takes a new lease: on time again.
	f.online("n1", 2)
	f.remaining[2] = 10
	f.probe()
	if f.lv.nodes["n1"].late || f.lv.nodes["n1"].rec.LastFence != nil {
		t.Fatalf("after the new lease: %+v", f.lv.nodes["n1"])
	}
}

// TestFastPathStaleConfirmation: a device's off that arrives after the
// node published with a new lease, or after the normal path started its
// own power-off, moves nothing.
func TestFastPathStaleConfirmation(t *testing.T) {
	f := newFastFake(t)
	f.device["n1"] = true
	f.online("n1", 1)
	if f.lv.powerOffConfirmed("n1", 9) {
		t.Fatal("an off for an old lease moved the node")
	}
	f.lv.lost("n1")
	f.step(f.now.Add(f.timing.SuspectAfter())) // STONITH running: busy
	if f.lv.powerOffConfirmed("n1", 1) {
		t.Fatal("an off during the normal path's power-off moved the node")
	}
	f.want("n1", api.NodeFencing)
}

// keys10 is the lease timing of the lab's node guests (TTL 10 s).
func keys10() keys.LeaseTiming { return keys.NewLeaseTiming(10 * time.Second) }

// TestFastPathNeverSeenOnline: a node a leader never saw online (no lease
// expiry recorded) is not a candidate, whatever its device says: such a
// node is never fenced.
func TestFastPathNeverSeenOnline(t *testing.T) {
	f := newFastFake(t)
	f.device["new"] = true
	f.power["new"] = fence.PowerOff
	f.lv.restore("new", nil, false, false)
	f.want("new", api.NodeUnreachable)
	if a := f.probe(); len(a) != 0 || f.asked["new"] != 0 {
		t.Fatalf("actions %v, asked %v", a, f.asked)
	}
	f.want("new", api.NodeUnreachable)
}

// TestFastPathAfterExpiry: a node whose lease expired before its device
// answered (unreachable) is fenced on the device's off without the
// suspect delay; no lease is revoked (it is gone).
func TestFastPathAfterExpiry(t *testing.T) {
	f := newFastFake(t)
	f.device["n1"] = true
	f.online("n1", 1)
	f.lv.lost("n1")
	f.power["n1"] = fence.PowerOff
	a := f.probe()
	f.want("n1", api.NodeFencing)
	if len(a) != 1 || a[0] != (livenessAction{node: "n1", kind: actStonith}) {
		t.Fatalf("actions: %v", a)
	}
	for _, tr := range f.lv.nodes["n1"].rec.Transitions {
		if tr.State == api.NodeSuspect {
			t.Fatalf("went through suspect: %+v", f.lv.nodes["n1"].rec.Transitions)
		}
	}
}
