package master

import (
	"fmt"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// Fencing's pace on the leader.
const (
	// stonithRetry is the pause after a STONITH action failed (it ran with
	// its own retries) before the next one.
	stonithRetry = 10 * time.Second
)

// livenessAction is work the liveness state machine asks the controller for.
type livenessAction struct {
	node string
	kind string // actStonith or actFailover
	// revoke: the lease to revoke once a STONITH is confirmed (fast path).
	revoke int64
}

const (
	actStonith  = "stonith"
	actFailover = "failover"
)

// nodeTrack is the state machine's view of one node.
type nodeTrack struct {
	name string
	rec  keys.NodeHealthRecord
	// dirty: rec changed since it was last written to etcd.
	dirty bool
	// busy: an action runs for the node; retryAt: the next STONITH try.
	busy    bool
	retryAt time.Time
	// lease: of the node's status key; late: it was found not renewed in
	// time; revoke: see livenessAction (node_late.go).
	lease  int64
	late   bool
	revoke int64
}

// liveness is the leader's state machine of node liveness (docs/ha.md):
//
//	online -> unreachable (lease expired) -> suspect (SuspectAfter later)
//	  -> fencing (STONITH, or waiting out the self-fence deadline, trusted
//	     only with an armed watchdog) -> fenced -> offline (after failover)
//
// A suspect node that has neither a fence device nor an armed watchdog
// stays suspect and needs an operator; nothing is failed over. A node that
// publishes a status again is online. It does no I/O: the controller feeds
// it the nodes' statuses and the actions' outcomes, on a clock.
type liveness struct {
	timing keys.LeaseTiming
	now    func() time.Time
	nodes  map[string]*nodeTrack
	// changes are the transitions since the last drain, for the log.
	changes []nodeChange
}

// nodeChange is one transition of one node, with the record after it.
type nodeChange struct {
	node string
	rec  keys.NodeHealthRecord
	// transition: the state changed (else only the reason).
	transition bool
}

func newLiveness(t keys.LeaseTiming, now func() time.Time) *liveness {
	return &liveness{timing: t, now: now, nodes: map[string]*nodeTrack{}}
}

func (l *liveness) track(node string) *nodeTrack {
	n := l.nodes[node]
	if n == nil {
		n = &nodeTrack{name: node}
		l.nodes[node] = n
	}
	return n
}

// set moves node to state (a transition when the state changes).
func (l *liveness) set(n *nodeTrack, state, method, reason string) {
	now := l.now().UTC()
	if n.rec.State != state {
		n.rec.Since = now
		n.rec.Transitions = append(n.rec.Transitions, api.NodeTransition{State: state, At: now, Reason: reason})
		if k := len(n.rec.Transitions) - keys.MaxTransitions; k > 0 {
			n.rec.Transitions = n.rec.Transitions[k:]
		}
	}
	moved := n.rec.State != state
	changed := moved || n.rec.Reason != reason
	n.rec.State, n.rec.Method, n.rec.Reason = state, method, reason
	n.dirty = true
	if changed {
		l.changes = append(l.changes, nodeChange{node: n.name, rec: n.rec, transition: moved})
	}
}

// drain returns (once) the transitions since the last call.
func (l *liveness) drain() []nodeChange {
	c := l.changes
	l.changes = nil
	return c
}

// restore takes over a record a previous leader wrote (or none), at this
// leader's start; statusUp says whether the node's status key exists.
func (l *liveness) restore(node string, rec *keys.NodeHealthRecord, statusUp, watchdog bool) {
	n := l.track(node)
	if rec != nil {
		n.rec = *rec
	}
	if statusUp {
		l.seen(node, watchdog)
		return
	}
	switch n.rec.State {
	case "", api.NodeOnline:
		if rec == nil {
			// Never seen online by a leader: nothing to fence.
			n.rec = keys.NodeHealthRecord{NodeHealth: api.NodeHealth{State: api.NodeUnreachable, Since: l.now().UTC(),
				Reason: "never seen online"}}
			return
		}
		// This leader did not see the lease expire: it counts from now.
		n.rec.LeaseLostAt = l.now().UTC()
		l.set(n, api.NodeUnreachable, "", "no status when this leader started")
	case api.NodeUnreachable, api.NodeSuspect, api.NodeFencing:
		if n.rec.LeaseLostAt.IsZero() || n.rec.LeaseLostAt.After(l.now()) {
			n.rec.LeaseLostAt = l.now().UTC()
		}
	}
}

// seen records a status of node; it reports whether that made the node
// online (it was not).
func (l *liveness) seen(node string, watchdog bool) bool {
	n := l.track(node)
	if n.rec.State == api.NodeFencing && n.rec.Method == actStonith && n.busy {
		// A power-off is under way: it is finished, whatever the node says.
		n.rec.Watchdog = watchdog
		return false
	}
	if n.rec.Watchdog != watchdog {
		n.rec.Watchdog, n.dirty = watchdog, true
	}
	if n.rec.State == api.NodeOnline {
		return false
	}
	reason := "status published"
	switch n.rec.State {
	case api.NodeFenced, api.NodeOffline:
		reason = "came back after being fenced (powered on or healed): rejoins as secondary, starts nothing"
	}
	n.rec.LeaseLostAt, n.rec.NeedsOperator = time.Time{}, false
	n.revoke, n.late = 0, false
	l.set(n, api.NodeOnline, "", reason)
	return true
}

// lost records that node's status vanished with its lease, now; it reports
// whether the node was online.
func (l *liveness) lost(node string) bool {
	n := l.track(node)
	if n.rec.State != api.NodeOnline {
		return false
	}
	n.rec.LeaseLostAt = l.now().UTC()
	l.set(n, api.NodeUnreachable, "", "lease expired")
	return true
}

// forget drops a node that was removed.
func (l *liveness) forget(node string) { delete(l.nodes, node) }

// step advances every node on the clock; hasDevice says whether a node has
// a fence device. It returns the actions to start (each marks the node busy
// until fenceDone or failoverDone).
func (l *liveness) step(hasDevice func(string) bool) []livenessAction {
	var out []livenessAction
	now := l.now()
	for name, n := range l.nodes {
		if n.busy {
			continue
		}
		r := &n.rec
		if r.State == api.NodeUnreachable && !r.LeaseLostAt.IsZero() && !now.Before(r.LeaseLostAt.Add(l.timing.SuspectAfter())) {
			l.set(n, api.NodeSuspect, "", fmt.Sprintf("no new status %v after the lease expired", l.timing.SuspectAfter()))
		}
		fencedBy := l.timing.FencedBy(r.LeaseLostAt)
		switch r.State {
		case api.NodeSuspect:
			switch {
			case hasDevice(name):
				r.NeedsOperator = false
				l.set(n, api.NodeFencing, actStonith, "powering off through the fence device")
			case r.Watchdog:
				r.NeedsOperator = false
				l.set(n, api.NodeFencing, "watchdog", "waiting out the self-fence deadline "+fencedBy.UTC().Format(time.RFC3339Nano))
			case !r.NeedsOperator:
				r.NeedsOperator = true
				l.set(n, api.NodeSuspect, "", "no fence device and no armed watchdog: an operator must make sure the node is off; nothing is failed over")
			}
		case api.NodeFencing:
			if r.Method == "watchdog" && hasDevice(name) {
				l.set(n, api.NodeFencing, actStonith, "a fence device was configured: powering off")
			}
		}
		switch {
		case r.State == api.NodeFencing && r.Watchdog && !now.Before(fencedBy):
			how := "the self-fence deadline passed (armed watchdog)"
			if r.Method == actStonith {
				how = "STONITH failed, but the self-fence deadline passed (armed watchdog)"
			}
			r.NeedsOperator = false
			l.set(n, api.NodeFenced, "watchdog", how)
		case r.State == api.NodeFencing && r.Method == actStonith && !now.Before(n.retryAt):
			n.busy = true
			out = append(out, livenessAction{node: name, kind: actStonith, revoke: n.revoke})
		}
		if r.State == api.NodeFenced {
			n.busy = true
			out = append(out, livenessAction{node: name, kind: actFailover})
		}
	}
	return out
}

// nextDue is the earliest moment at which step has something to do for a
// node on the clock alone (a suspect delay ending, a STONITH retry, a
// self-fence deadline); zero when nothing waits on the clock. The
// controller wakes at that moment instead of on its next tick, so no
// transition waits for a tick.
func (l *liveness) nextDue() time.Time {
	var due time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	for _, n := range l.nodes {
		r := &n.rec
		if n.busy || r.LeaseLostAt.IsZero() {
			continue
		}
		switch {
		case r.State == api.NodeUnreachable:
			at(r.LeaseLostAt.Add(l.timing.SuspectAfter()))
		case r.State == api.NodeFencing && r.Method == actStonith:
			at(n.retryAt)
			if r.Watchdog {
				at(l.timing.FencedBy(r.LeaseLostAt))
			}
		case r.State == api.NodeFencing && r.Watchdog:
			at(l.timing.FencedBy(r.LeaseLostAt))
		}
	}
	return due
}

// fenceDone records a STONITH outcome.
func (l *liveness) fenceDone(node string, res api.FenceResult, err error) {
	n := l.track(node)
	n.busy = false
	n.rec.LastFence = &res
	n.dirty = true
	if n.rec.State != api.NodeFencing {
		return
	}
	if err == nil && res.OK {
		n.rec.NeedsOperator, n.revoke = false, 0
		l.set(n, api.NodeFenced, actStonith, fmt.Sprintf("powered off and confirmed off by the fence device in %v", res.Duration.Round(time.Millisecond)))
		return
	}
	n.retryAt = l.now().Add(stonithRetry)
	n.rec.NeedsOperator = !n.rec.Watchdog
	l.set(n, api.NodeFencing, actStonith, fmt.Sprintf("STONITH failed (%s); retrying every %v", res.Error, stonithRetry))
}

// failoverDone records that the node's instances were dealt with.
func (l *liveness) failoverDone(node string, err error) {
	n := l.track(node)
	n.busy = false
	if n.rec.State != api.NodeFenced {
		return
	}
	if err != nil {
		n.dirty = true
		n.rec.Reason = "failover: " + err.Error()
		return
	}
	l.set(n, api.NodeOffline, n.rec.Method, "fenced and its instances failed over")
}

// dirtyRecords returns (and marks clean) the records to write.
func (l *liveness) dirtyRecords() map[string]keys.NodeHealthRecord {
	out := map[string]keys.NodeHealthRecord{}
	for name, n := range l.nodes {
		if n.dirty {
			out[name] = n.rec
			n.dirty = false
		}
	}
	return out
}
