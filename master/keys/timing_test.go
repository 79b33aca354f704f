package keys

import (
	"errors"
	"testing"
	"time"
)

// t0 is the controlled clock's origin: every moment below is t0 plus an
// exact offset, so the boundaries are tested to the nanosecond.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestLeaseTimingDefaults(t *testing.T) {
	lt := NewLeaseTiming(5 * time.Second)
	want := LeaseTiming{TTL: 5 * time.Second, Margin: time.Second, Renew: time.Second, Attempt: time.Second,
		FenceTimeout: 3 * time.Second, WatchdogTimeout: 10 * time.Second, Grace: 12 * time.Second}
	if lt != want {
		t.Fatalf("NewLeaseTiming(5s) = %+v, want %+v", lt, want)
	}
	for ttl := 2 * time.Second; ttl <= 60*time.Second; ttl += 500 * time.Millisecond {
		if err := NewLeaseTiming(ttl).Validate(); err != nil {
			t.Errorf("TTL %v: %v", ttl, err)
		}
	}
	if lt.TTLSeconds() != 5 || NewLeaseTiming(2500*time.Millisecond).TTLSeconds() != 3 {
		t.Errorf("TTLSeconds rounds up: %d %d", lt.TTLSeconds(), NewLeaseTiming(2500*time.Millisecond).TTLSeconds())
	}
}

func TestLeaseTimingAgentBoundary(t *testing.T) {
	lt := NewLeaseTiming(5 * time.Second)
	sentAt := t0
	fenceAt := t0.Add(4 * time.Second)
	if got := lt.FenceAt(sentAt); !got.Equal(fenceAt) {
		t.Fatalf("FenceAt = %v, want %v", got, fenceAt)
	}
	cases := []struct {
		now     time.Time
		trusted bool
	}{
		{sentAt, true},
		{fenceAt.Add(-time.Nanosecond), true},
		{fenceAt, false}, // exactly at the boundary: lost
		{fenceAt.Add(time.Nanosecond), false},
		{sentAt.Add(lt.TTL), false}, // etcd's earliest expiry
	}
	for _, c := range cases {
		if got := lt.Trusted(sentAt, c.now); got != c.trusted {
			t.Errorf("Trusted(sentAt, sentAt+%v) = %v, want %v", c.now.Sub(sentAt), got, c.trusted)
		}
	}
	// An attempt gets its full Attempt until it would cross FenceAt.
	if got := lt.AttemptDeadline(sentAt, t0.Add(time.Second)); !got.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("attempt at +1s ends %v", got.Sub(t0))
	}
	if got := lt.AttemptDeadline(sentAt, fenceAt.Add(-lt.Attempt)); !got.Equal(fenceAt) {
		t.Errorf("attempt ending exactly at FenceAt ends %v", got.Sub(t0))
	}
	if got := lt.AttemptDeadline(sentAt, fenceAt.Add(-time.Nanosecond)); !got.Equal(fenceAt) {
		t.Errorf("attempt 1ns before FenceAt ends %v, want clamped to FenceAt", got.Sub(t0))
	}
	// From a renewal scheduled Renew after the last success, the attempts that
	// fit before FenceAt: at least AttemptsPerRenewal.
	n := 0
	for at := sentAt.Add(lt.Renew); lt.Trusted(sentAt, at); at = lt.AttemptDeadline(sentAt, at) {
		if lt.AttemptDeadline(sentAt, at).Sub(at) == lt.Attempt {
			n++
		}
	}
	if n < AttemptsPerRenewal {
		t.Errorf("%d full attempts fit after a renewal, want >= %d", n, AttemptsPerRenewal)
	}
}

func TestLeaseTimingMasterBoundary(t *testing.T) {
	lt := NewLeaseTiming(5 * time.Second)
	seen := t0
	if lt.PresumedFenced(seen, seen.Add(lt.Grace-time.Nanosecond)) {
		t.Error("presumed fenced 1ns before the grace ends")
	}
	if !lt.PresumedFenced(seen, seen.Add(lt.Grace)) {
		t.Error("not presumed fenced exactly when the grace ends")
	}
	// The safety rule: whatever sentAt, the master's earliest "fenced" moment
	// (lease expired at its earliest, sentAt+TTL, seen at once) comes after the
	// agent's latest guest-free moment (fence starts at FenceAt; a fence that
	// fails stops the watchdog pets, so the reset comes WatchdogTimeout later).
	for _, ttl := range []time.Duration{2 * time.Second, 3 * time.Second, 5 * time.Second, 30 * time.Second} {
		lt := NewLeaseTiming(ttl)
		sentAt := t0
		agentDone := lt.FenceAt(sentAt).Add(max(lt.FenceTimeout, lt.WatchdogTimeout))
		masterActs := lt.FencedBy(sentAt.Add(lt.TTL))
		if !agentDone.Before(masterActs) {
			t.Errorf("TTL %v: agent done %v, master acts %v", ttl, agentDone.Sub(t0), masterActs.Sub(t0))
		}
	}
}

func TestLeaseTimingValidateRefuses(t *testing.T) {
	good := NewLeaseTiming(5 * time.Second)
	bad := map[string]func(*LeaseTiming){
		"short ttl":           func(l *LeaseTiming) { l.TTL = time.Second },
		"no margin":           func(l *LeaseTiming) { l.Margin = 0 },
		"margin over ttl":     func(l *LeaseTiming) { l.Margin = l.TTL },
		"one attempt only":    func(l *LeaseTiming) { l.Attempt = 1600 * time.Millisecond },
		"fence over watchdog": func(l *LeaseTiming) { l.FenceTimeout = l.WatchdogTimeout + 1 },
		"grace too short":     func(l *LeaseTiming) { l.Grace = l.WatchdogTimeout },
	}
	for name, mut := range bad {
		lt := good
		mut(&lt)
		if err := lt.Validate(); !errors.Is(err, ErrLeaseTiming) {
			t.Errorf("%s: Validate = %v, want ErrLeaseTiming", name, err)
		}
	}
	// Exactly two attempts after a renewal still fit: the boundary is allowed.
	lt := good
	lt.Attempt = (lt.TTL - lt.Margin - lt.Renew) / 2
	if err := lt.Validate(); err != nil {
		t.Errorf("two attempts exactly fitting: %v", err)
	}
}
