package mastertest

import (
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"
)

// WaitFor polls cond every 50 ms until it holds or the test fails
// (realtest.WaitFor).
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	realtest.WaitFor(tb, timeout, what, cond)
}
