// Package realtest is how every test of drover skips (and waits, wait.go):
// one place that knows when a skip is allowed. With DROVER_REQUIRE_REAL set (scripts/test.sh sets
// it when it runs as root, as CI does), a test that lacks a real part it
// needs (root, a binary of a Debian package in scripts/test.sh, a device)
// fails instead of skipping, so that CI cannot pass by skipping the real
// tests. Skips that are not about a missing real part (-short, tests a
// variable opts into, the lab's DRBD 9 kit) say so and always skip.
package realtest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// EnvRequireReal is the variable that makes missing real parts fail tests.
const EnvRequireReal = "DROVER_REQUIRE_REAL"

// Required reports whether real parts are required (DROVER_REQUIRE_REAL set).
func Required() bool { return os.Getenv(EnvRequireReal) != "" }

// Need skips the test because a real part is missing, as the message says,
// or fails it when real parts are required.
func Need(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("%s is set, but: %s", EnvRequireReal, msg)
	}
	tb.Skip("skipping: " + msg)
}

// NeedRoot calls Need unless the test runs as root.
func NeedRoot(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Need(tb, "needs root (%s)", why)
	}
}

// NeedBinaries calls Need for the first of bins that is not on PATH.
func NeedBinaries(tb testing.TB, bins ...string) {
	tb.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			Need(tb, "%s not installed", b)
		}
	}
}

// Optional skips a test that is an extra, not a real part CI must have: a
// test a variable opts into, or one that needs something outside the
// repository's packages (the lab kit, /dev/kvm). It never fails.
func Optional(tb testing.TB, format string, args ...any) {
	tb.Helper()
	tb.Skip("skipping (optional): " + fmt.Sprintf(format, args...))
}

// Short skips a slow test under -short (it never fails: -short is asked for).
func Short(tb testing.TB, what string) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("skipping with -short: " + what)
	}
}
