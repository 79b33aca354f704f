package nodeagent

import (
	"testing"
	"time"
)

// A thousand agents that lost their leases at the same moment ask for new
// ones spread over the jitter, not in one burst (nodeagent/sim's case); without
// a jitter the wait is the back-off alone, as before.
func TestRegrantWaitSpreadsAgents(t *testing.T) {
	if w := regrantWait(400*time.Millisecond, 0); w != 400*time.Millisecond {
		t.Fatalf("no jitter: %v, want the back-off", w)
	}
	const agents, backoff, jitter = 1000, 200 * time.Millisecond, 10 * time.Second
	perSecond := make([]int, 11)
	for range agents {
		w := regrantWait(backoff, jitter)
		if w < backoff || w >= backoff+jitter {
			t.Fatalf("wait %v outside [%v, %v)", w, backoff, backoff+jitter)
		}
		perSecond[(w-backoff)/time.Second]++
	}
	// Uniform: about 100 a second; a burst of 200 in one second is what the
	// jitter is there to prevent (far beyond chance: p < 1e-20).
	for s, n := range perSecond[:10] {
		if n == 0 || n > 200 {
			t.Errorf("second %d of the jitter: %d of %d agents ask (want about %d)", s, n, agents, agents/10)
		}
	}
}
