package master

import (
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// clockFSM is a liveness state machine on a controlled clock.
type clockFSM struct {
	t      *testing.T
	now    time.Time
	lv     *liveness
	timing keys.LeaseTiming
	device map[string]bool
}

func newClockFSM(t *testing.T) *clockFSM {
	c := &clockFSM{t: t, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), timing: keys.NewLeaseTiming(5 * time.Second), device: map[string]bool{}}
	c.lv = newLiveness(c.timing, func() time.Time { return c.now })
	return c
}

// step advances to at and runs one step; it returns the actions.
func (c *clockFSM) step(at time.Time) []livenessAction {
	c.now = at
	return c.lv.step(func(n string) bool { return c.device[n] })
}

func (c *clockFSM) want(node, state string) {
	c.t.Helper()
	if got := c.lv.nodes[node].rec.State; got != state {
		c.t.Fatalf("%s at +%v: state %s, want %s (reason %q)", node, c.now.Sub(c.lv.nodes[node].rec.LeaseLostAt),
			got, state, c.lv.nodes[node].rec.Reason)
	}
}

// TestLivenessWatchdogBoundaries: a node with an armed watchdog becomes
// suspect exactly SuspectAfter after its lease expired and fenced exactly
// Grace after, not a nanosecond before; then it is failed over and offline.
func TestLivenessWatchdogBoundaries(t *testing.T) {
	c := newClockFSM(t)
	if !c.lv.seen("wd", true) || c.lv.seen("wd", true) {
		t.Fatal("seen: first sight is not reported once")
	}
	t0 := c.now
	if !c.lv.lost("wd") {
		t.Fatal("lost: was online")
	}
	c.want("wd", api.NodeUnreachable)
	if a := c.step(t0.Add(c.timing.SuspectAfter() - time.Nanosecond)); len(a) != 0 {
		t.Fatalf("actions before suspect: %v", a)
	}
	c.want("wd", api.NodeUnreachable)
	c.step(t0.Add(c.timing.SuspectAfter()))
	c.want("wd", api.NodeFencing)
	if m := c.lv.nodes["wd"].rec.Method; m != "watchdog" {
		t.Fatalf("method %q", m)
	}
	if a := c.step(t0.Add(c.timing.Grace - time.Nanosecond)); len(a) != 0 {
		t.Fatalf("actions 1ns before the grace ends: %v", a)
	}
	c.want("wd", api.NodeFencing)
	a := c.step(t0.Add(c.timing.Grace))
	c.want("wd", api.NodeFenced)
	if len(a) != 1 || a[0] != (livenessAction{node: "wd", kind: actFailover}) {
		t.Fatalf("actions at the grace's end: %v", a)
	}
	if a := c.step(c.now.Add(time.Second)); len(a) != 0 {
		t.Fatalf("failover started twice: %v", a)
	}
	c.lv.failoverDone("wd", nil)
	c.want("wd", api.NodeOffline)
	states := []string{}
	for _, ch := range c.lv.drain() {
		states = append(states, ch.rec.State)
	}
	if got := states; len(got) != 6 || got[0] != api.NodeOnline || got[5] != api.NodeOffline {
		t.Fatalf("transitions logged: %v", got)
	}
	if tr := c.lv.nodes["wd"].rec.Transitions; len(tr) != 6 || tr[2].State != api.NodeSuspect {
		t.Fatalf("transitions recorded: %+v", tr)
	}
	c.lv.seen("wd", true)
	c.want("wd", api.NodeOnline)
}

// TestLivenessNeverFailsOverUnfenceable: without a fence device and without
// an armed watchdog (or with a watchdog disarmed by a clean agent stop) a
// node stays suspect, needing an operator, for ever; a device configured
// later fences it.
func TestLivenessNeverFailsOverUnfenceable(t *testing.T) {
	c := newClockFSM(t)
	c.lv.seen("bare", false)
	c.lv.seen("stopped", true)
	c.lv.seen("stopped", false) // the agent's last status: watchdog disarmed
	t0 := c.now
	c.lv.lost("bare")
	c.lv.lost("stopped")
	for _, d := range []time.Duration{c.timing.SuspectAfter(), c.timing.Grace, time.Hour} {
		if a := c.step(t0.Add(d)); len(a) != 0 {
			t.Fatalf("actions at +%v: %v", d, a)
		}
		for _, n := range []string{"bare", "stopped"} {
			c.want(n, api.NodeSuspect)
			if !c.lv.nodes[n].rec.NeedsOperator {
				t.Fatalf("%s does not need an operator", n)
			}
		}
	}
	c.device["bare"] = true
	a := c.step(c.now.Add(time.Second))
	c.want("bare", api.NodeFencing)
	if len(a) != 1 || a[0].kind != actStonith || a[0].node != "bare" {
		t.Fatalf("actions once a device exists: %v", a)
	}
}

// TestLivenessStonith: a node with a fence device is powered off as soon as
// it is suspect; a failed power-off is retried after stonithRetry and the
// node needs an operator meanwhile; a confirmed one makes it fenced.
func TestLivenessStonith(t *testing.T) {
	c := newClockFSM(t)
	c.device["n1"] = true
	c.lv.seen("n1", false)
	t0 := c.now
	c.lv.lost("n1")
	a := c.step(t0.Add(c.timing.SuspectAfter()))
	if len(a) != 1 || a[0].kind != actStonith {
		t.Fatalf("actions: %v", a)
	}
	c.want("n1", api.NodeFencing)
	if a := c.step(c.now.Add(time.Second)); len(a) != 0 {
		t.Fatalf("a second power-off while one runs: %v", a)
	}
	c.lv.fenceDone("n1", api.FenceResult{Action: "off", Error: "BMC unreachable"}, errTest)
	c.want("n1", api.NodeFencing)
	if !c.lv.nodes["n1"].rec.NeedsOperator || c.lv.nodes["n1"].rec.LastFence == nil {
		t.Fatal("failed STONITH: not flagged or not recorded")
	}
	failedAt := c.now
	if a := c.step(failedAt.Add(stonithRetry - time.Nanosecond)); len(a) != 0 {
		t.Fatalf("retried early: %v", a)
	}
	if a := c.step(failedAt.Add(stonithRetry)); len(a) != 1 || a[0].kind != actStonith {
		t.Fatalf("no retry: %v", a)
	}
	// A status arriving while the power-off runs does not stop it.
	c.lv.seen("n1", false)
	c.want("n1", api.NodeFencing)
	c.lv.fenceDone("n1", api.FenceResult{Action: "off", OK: true, Power: "off"}, nil)
	c.want("n1", api.NodeFenced)
	if a := c.step(c.now.Add(time.Millisecond)); len(a) != 1 || a[0].kind != actFailover {
		t.Fatalf("no failover after STONITH: %v", a)
	}
}

// TestLivenessComesBackAndRestore: a node whose status reappears before it
// is fenced is online again and nothing fails over; a new leader carries
// on from the records (and calls a node it never saw online unreachable,
// never suspect).
func TestLivenessComesBackAndRestore(t *testing.T) {
	c := newClockFSM(t)
	c.lv.seen("wd", true)
	t0 := c.now
	c.lv.lost("wd")
	c.step(t0.Add(c.timing.SuspectAfter()))
	c.want("wd", api.NodeFencing)
	c.lv.seen("wd", true)
	c.want("wd", api.NodeOnline)
	if a := c.step(t0.Add(2 * c.timing.Grace)); len(a) != 0 {
		t.Fatalf("actions for a node that came back: %v", a)
	}
	rec := c.lv.nodes["wd"].rec
	c.lv.lost("wd")
	c.step(c.now.Add(c.timing.SuspectAfter()))
	rec = c.lv.nodes["wd"].rec

	d := newClockFSM(t)
	d.now = c.now
	d.lv.restore("wd", &rec, false, false)
	d.lv.restore("new", nil, false, false)
	d.want("wd", api.NodeFencing)
	d.step(rec.LeaseLostAt.Add(d.timing.Grace))
	d.want("wd", api.NodeFenced)
	d.step(d.now.Add(time.Hour))
	d.want("new", api.NodeUnreachable)
	online := keys.NodeHealthRecord{NodeHealth: api.NodeHealth{State: api.NodeOnline}, Watchdog: true}
	d.lv.restore("was", &online, false, false)
	d.want("was", api.NodeUnreachable)
	if !d.lv.nodes["was"].rec.LeaseLostAt.Equal(d.now) {
		t.Fatal("a node this leader did not see expire counts from the leader's start")
	}
}

var errTest = errorString("test failure")

type errorString string

func (e errorString) Error() string { return string(e) }

// TestLivenessNextDue: the controller's wake-up is exactly the next
// clock-driven transition: the suspect delay after a lease expiry, the
// STONITH retry after a failure, the self-fence deadline of a watchdog
// node; nothing while an action runs or when no node waits; the wake
// timer never exceeds a tick.
func TestLivenessNextDue(t *testing.T) {
	c := newClockFSM(t)
	if d := c.lv.nextDue(); !d.IsZero() {
		t.Fatalf("nothing tracked, due %v", d)
	}
	c.device["n1"] = true
	c.lv.seen("n1", false)
	c.lv.seen("wd", true)
	if d := c.lv.nextDue(); !d.IsZero() {
		t.Fatalf("all online, due %v", d)
	}
	t0 := c.now
	c.lv.lost("n1")
	if d := c.lv.nextDue(); !d.Equal(t0.Add(c.timing.SuspectAfter())) {
		t.Fatalf("unreachable: due %v, want lease expiry + SuspectAfter %v", d, t0.Add(c.timing.SuspectAfter()))
	}
	if a := c.step(c.lv.nextDue()); len(a) != 1 || a[0].kind != actStonith {
		t.Fatalf("at the due moment: actions %v", a)
	}
	if d := c.lv.nextDue(); !d.IsZero() {
		t.Fatalf("STONITH running: due %v", d)
	}
	c.lv.fenceDone("n1", api.FenceResult{Action: "off", Error: "BMC unreachable"}, errTest)
	if d := c.lv.nextDue(); !d.Equal(c.now.Add(stonithRetry)) {
		t.Fatalf("failed STONITH: due %v, want the retry %v", d, c.now.Add(stonithRetry))
	}
	c.lv.fenceDone("n1", api.FenceResult{Action: "off", OK: true, Power: "off"}, nil)
	c.lv.lost("wd")
	c.step(c.now.Add(c.timing.SuspectAfter()))
	c.want("wd", api.NodeFencing)
	if d := c.lv.nextDue(); !d.Equal(c.timing.FencedBy(c.lv.nodes["wd"].rec.LeaseLostAt)) {
		t.Fatalf("watchdog wait: due %v, want the self-fence deadline", d)
	}
	if w := livenessWake(time.Time{}, c.now); w != livenessTick {
		t.Fatalf("nothing due: wake after %v", w)
	}
	if w := livenessWake(c.now.Add(time.Hour), c.now); w != livenessTick {
		t.Fatalf("due in an hour: wake after %v", w)
	}
	if w := livenessWake(c.now.Add(-time.Second), c.now); w != time.Millisecond {
		t.Fatalf("overdue: wake after %v", w)
	}
}
