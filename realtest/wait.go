package realtest

import (
	"testing"
	"time"
)

// WaitFor polls cond every 50 ms until it holds, or fails the test after
// timeout: the one polling loop of the tests of master and agent
// (mastertest.WaitFor and the agent's harness use it). Use it for what
// becomes true; never to show that something does not happen.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
