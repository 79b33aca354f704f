package keys

import (
	"errors"
	"fmt"
	"time"
)

// LeaseTiming is the one statement of a node lease's timing. The agent uses it
// to renew, to bound each keep-alive attempt and to decide when it must fence
// itself; the master uses it to decide when a node whose lease expired has
// certainly fenced itself. Both sides build it with NewLeaseTiming from the
// cluster's lease TTL, so they cannot disagree (docs/fencing.md).
//
// On the agent's side every moment is counted from sentAt, when the last
// keep-alive that a member answered was sent: etcd cannot expire the lease
// before sentAt+TTL, and the agent treats it as lost from FenceAt(sentAt) =
// sentAt+TTL-Margin on.
type LeaseTiming struct {
	// TTL is the etcd lease TTL.
	TTL time.Duration
	// Margin is how long before etcd's earliest expiry the agent gives the
	// lease up and fences itself (clock-rate slack and scheduling delays).
	Margin time.Duration
	// Renew is the pause between two renewals that succeeded.
	Renew time.Duration
	// Attempt bounds one keep-alive sent to one etcd member; when it passes
	// the agent tries the next member. At least AttemptsPerRenewal attempts
	// fit between a scheduled renewal and FenceAt.
	Attempt time.Duration
	// FenceTimeout bounds self-fencing: the hypervisor gets half of it to
	// destroy the domains, then the guests' processes are killed.
	FenceTimeout time.Duration
	// WatchdogTimeout is what the agent sets on /dev/watchdog: a node whose
	// agent stops petting it (hung, or unable to fence) is reset that long
	// after the last pet. The agent pets only while its lease is trusted or
	// after a fence it verified.
	WatchdogTimeout time.Duration
	// Grace is how long the master waits after it saw a node's lease expire
	// before it may treat the node as fenced (only for a node that reported
	// an armed watchdog): covers the fence, the watchdog and clock slack.
	Grace time.Duration
}

// AttemptsPerRenewal is how many members a renewal can try before FenceAt
// with the default timing: one stalled member (or two) never fences a node.
const AttemptsPerRenewal = 3

// ErrLeaseTiming means a LeaseTiming breaks one of its invariants.
var ErrLeaseTiming = errors.New("keys: inconsistent lease timing")

// NewLeaseTiming derives the whole timing from the lease TTL (at least 2 s).
// For the default TTL of 5 s: margin 1 s, renew every 1 s, 1 s per member
// attempt, fence within 3 s, watchdog 10 s, master grace 12 s.
func NewLeaseTiming(ttl time.Duration) LeaseTiming {
	t := LeaseTiming{TTL: ttl, Margin: ttl / 5, Renew: ttl / 5}
	t.Attempt = (t.TTL - t.Margin - t.Renew) / AttemptsPerRenewal
	t.FenceTimeout = max(3*time.Second, ttl/2)
	t.WatchdogTimeout = max(10*time.Second, 2*ttl)
	t.Grace = t.WatchdogTimeout + t.Margin + time.Second
	return t
}

// Validate checks the invariants the safety rule rests on.
func (t LeaseTiming) Validate() error {
	switch {
	case t.TTL < 2*time.Second:
		return fmt.Errorf("%w: TTL %v below 2s", ErrLeaseTiming, t.TTL)
	case t.Margin <= 0 || t.Margin >= t.TTL:
		return fmt.Errorf("%w: margin %v not within (0, TTL %v)", ErrLeaseTiming, t.Margin, t.TTL)
	case t.Renew <= 0 || t.Attempt <= 0:
		return fmt.Errorf("%w: renew %v and attempt %v must be positive", ErrLeaseTiming, t.Renew, t.Attempt)
	case t.Renew+2*t.Attempt > t.TTL-t.Margin:
		return fmt.Errorf("%w: renew %v + 2 attempts of %v exceed TTL-margin %v: a stalled member would fence the node",
			ErrLeaseTiming, t.Renew, t.Attempt, t.TTL-t.Margin)
	case t.FenceTimeout <= 0 || t.WatchdogTimeout < t.FenceTimeout:
		return fmt.Errorf("%w: fence timeout %v must be positive and within the watchdog timeout %v",
			ErrLeaseTiming, t.FenceTimeout, t.WatchdogTimeout)
	case t.Grace < t.WatchdogTimeout+t.Margin:
		return fmt.Errorf("%w: master grace %v below watchdog %v + margin %v", ErrLeaseTiming, t.Grace, t.WatchdogTimeout, t.Margin)
	}
	return nil
}

// TTLSeconds is the TTL as etcd's lease grant takes it (rounded up).
func (t LeaseTiming) TTLSeconds() int64 {
	return int64((t.TTL + time.Second - 1) / time.Second)
}

// FenceAt is when the agent must consider its lease lost: sentAt+TTL-Margin.
func (t LeaseTiming) FenceAt(sentAt time.Time) time.Time {
	return sentAt.Add(t.TTL - t.Margin)
}

// Trusted reports whether, at now, the lease renewed by a keep-alive sent at
// sentAt may still be relied on: strictly before FenceAt.
func (t LeaseTiming) Trusted(sentAt, now time.Time) bool {
	return now.Before(t.FenceAt(sentAt))
}

// AttemptDeadline is the deadline of a keep-alive attempt started at now:
// Attempt later, but never past FenceAt(sentAt).
func (t LeaseTiming) AttemptDeadline(sentAt, now time.Time) time.Time {
	d := now.Add(t.Attempt)
	if fa := t.FenceAt(sentAt); fa.Before(d) {
		return fa
	}
	return d
}

// HypervisorDeadline is how long the hypervisor gets to destroy the domains
// while fencing, before their processes are killed.
func (t LeaseTiming) HypervisorDeadline() time.Duration { return t.FenceTimeout / 2 }

// FencedBy is, for the master, the moment from which a node whose lease it
// saw expire at expiredSeen has certainly fenced itself (given an armed
// watchdog): expiredSeen+Grace. Before it the node may still run guests.
func (t LeaseTiming) FencedBy(expiredSeen time.Time) time.Time {
	return expiredSeen.Add(t.Grace)
}

// PresumedFenced reports whether, at now, the node whose lease expired at
// expiredSeen may be treated as fenced: at or after FencedBy.
func (t LeaseTiming) PresumedFenced(expiredSeen, now time.Time) bool {
	return !now.Before(t.FencedBy(expiredSeen))
}
