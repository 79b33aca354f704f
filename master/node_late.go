package master

import (
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// The fast path for dead nodes (docs/ha.md "The fast path"): before a
// node's lease expires, the leader notices that its agent stopped renewing
// it ("late") and asks the node's fence device for its power state; only
// a device that says off moves the node on, straight to fencing.
const (
	// lateProbeEvery is how often the leader reads the remaining TTL of
	// the leases of the online nodes that have a fence device.
	lateProbeEvery = time.Second
	// lateProbeTimeout bounds one round of those reads: what did not
	// answer by then is "no information".
	lateProbeTimeout = time.Second
	// lateProbeParallel bounds the reads in flight at once.
	lateProbeParallel = 8
	// bmcStatusEvery is the least pause between two status reads of one
	// node's fence device (one at a time per node).
	bmcStatusEvery = 2 * time.Second
	// reasonPowerOffConfirmed is the transition's reason on the fast path.
	reasonPowerOffConfirmed = "power off confirmed by the fence device"
)

// lateAfter is how long an agent may leave its lease unrenewed before the
// leader calls the node late: one renewal pause (the agent renews every
// Renew) and a grace of max(1 s, TTL/10) for a slow keep-alive.
func lateAfter(t keys.LeaseTiming) time.Duration {
	return t.Renew + max(time.Second, t.TTL/10)
}

// leaseLate reads an etcd TimeToLive answer (granted and remaining TTL in
// seconds; etcd truncates the remaining time to whole seconds, and answers
// -1 for a lease it no longer has): it reports whether the lease has
// certainly not been renewed for lateAfter, and the least time it has not
// been renewed. A lease that is gone (expired, or revoked, for instance by
// a resumed etcd leader) is late: the fence device decides.
func leaseLate(t keys.LeaseTiming, granted, remaining int64) (bool, time.Duration) {
	if remaining < 0 {
		return true, 0
	}
	// The remaining time is in [remaining, remaining+1) s.
	unrenewed := time.Duration(granted-remaining-1) * time.Second
	return unrenewed >= lateAfter(t), max(0, unrenewed)
}

// lateCandidate is a node the leader probes: online with a known lease
// (its remaining TTL is read), or unreachable or suspect after a lease
// expiry (its lease is gone already: late by definition).
type lateCandidate struct {
	node  string
	lease int64
	gone  bool
}

// setLease records the lease of node's status key (0: unknown).
func (l *liveness) setLease(node string, lease int64) {
	l.track(node).lease = lease
}

// lateCandidates are the nodes to probe this round (the controller keeps
// those without a fence device out).
func (l *liveness) lateCandidates() []lateCandidate {
	var out []lateCandidate
	for name, n := range l.nodes {
		switch {
		case n.busy:
		case n.rec.State == api.NodeOnline && n.lease != 0:
			out = append(out, lateCandidate{node: name, lease: n.lease})
		case (n.rec.State == api.NodeUnreachable || n.rec.State == api.NodeSuspect) && !n.rec.LeaseLostAt.IsZero():
			// (A node never seen online has no expiry: never fenced.)
			out = append(out, lateCandidate{node: name, lease: n.lease, gone: true})
		}
	}
	return out
}

// setLate records whether node's lease was found late (for lease, the one
// probed); it reports whether that changed (the controller logs it). Late
// changes nothing else: the node stays in its state.
func (l *liveness) setLate(node string, lease int64, late bool) bool {
	n := l.nodes[node]
	if n == nil || n.lease != lease || n.late == late {
		return false
	}
	n.late = late
	return true
}

// powerOffConfirmed records that node's fence device said its power is
// off, while the node was online with lease (the one probed), unreachable
// or suspect and no action ran for it: the node is dead for certain. It
// moves to fencing (the normal power-off and status confirm follow at the
// next step, at once; "Already OFF" for the device), skipping what is left
// of the lease and the suspect delay; the lease counts as lost from now.
// It reports whether the node moved.
func (l *liveness) powerOffConfirmed(node string, lease int64) bool {
	n := l.nodes[node]
	if n == nil || n.busy {
		return false
	}
	n.revoke = 0
	switch n.rec.State {
	case api.NodeOnline:
		if n.lease != lease {
			return false // a new incarnation published meanwhile
		}
		// Its lease still lives: revoked once the power-off is
		// confirmed, so that its keys go as at an expiry.
		n.revoke = lease
	case api.NodeUnreachable, api.NodeSuspect:
	default:
		return false
	}
	n.rec.LeaseLostAt, n.rec.NeedsOperator = l.now().UTC(), false
	n.retryAt, n.late = time.Time{}, false
	l.set(n, api.NodeFencing, actStonith, reasonPowerOffConfirmed)
	return true
}
