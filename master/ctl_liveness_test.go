package master

import (
	"slices"
	"testing"
	"time"

	"github.com/drover-project/drover/master/keys"
)

// TestLivenessPresumesFencedOnlyWithWatchdog drives the leader's liveness on
// a controlled clock: a node with an armed watchdog is presumed fenced
// exactly Grace after its lease was seen to expire, not a nanosecond before;
// a node without one never is.
func TestLivenessPresumesFencedOnlyWithWatchdog(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	timing := keys.NewLeaseTiming(5 * time.Second)
	lv := newLiveness(timing, func() time.Time { return now })
	if !lv.seen("wd", true) || !lv.seen("bare", false) || lv.seen("wd", true) {
		t.Fatal("seen: first sight is not reported once")
	}
	by, trusted, ok := lv.lost("wd")
	if !ok || !trusted || !by.Equal(now.Add(timing.Grace)) {
		t.Fatalf("lost(wd) = %v %v %v", by, trusted, ok)
	}
	if _, trusted, ok := lv.lost("bare"); !ok || trusted {
		t.Fatalf("lost(bare) trusted=%v ok=%v", trusted, ok)
	}
	start := now
	now = start.Add(timing.Grace - time.Nanosecond)
	if d := lv.due(); len(d) != 0 {
		t.Fatalf("due 1ns before the grace ends: %v", d)
	}
	now = start.Add(timing.Grace)
	if d := lv.due(); !slices.Equal(d, []string{"wd"}) {
		t.Fatalf("due at the grace's end: %v, want [wd]", d)
	}
	now = now.Add(time.Hour)
	if d := lv.due(); len(d) != 0 {
		t.Fatalf("due again, or a node without watchdog: %v", d)
	}
	// A node that comes back is no longer pending.
	lv.seen("wd", true)
	start = now
	lv.lost("wd")
	lv.seen("wd", true)
	now = start.Add(2 * timing.Grace)
	if d := lv.due(); len(d) != 0 {
		t.Fatalf("a node that came back is presumed fenced: %v", d)
	}
}
