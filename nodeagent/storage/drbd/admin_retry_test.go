package drbd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestTimedOutCallRetried: drbdadm's own 5 s limit on a drbdsetup call
// (seen on loaded node guests: new-path of a third peer) makes an adjust
// try again; create-md is never run twice, other failures are not retried,
// and a call that keeps timing out fails after three tries.
func TestTimedOutCallRetried(t *testing.T) {
	timedOut := "Command 'drbdsetup new-path r0 2 ipv4:10.0.0.2:11000 ipv4:10.0.0.3:11000' did not terminate within 5 seconds"
	fake := func(fails int, msg string) (*Admin, *[]string) {
		var calls []string
		a := &Admin{Version: V9, ConfDir: "/etc", RetryPause: time.Millisecond,
			Run: func(_ context.Context, _, name string, args ...string) ([]byte, error) {
				calls = append(calls, strings.Join(args[2:], " "))
				if len(calls) <= fails {
					return []byte(msg), errors.New("exit status 20: " + msg)
				}
				return nil, nil
			}}
		return a, &calls
	}
	a, calls := fake(1, timedOut)
	if err := a.Adjust(context.Background(), "r0"); err != nil || len(*calls) != 2 {
		t.Fatalf("adjust after one timeout: %v, calls %q", err, *calls)
	}
	a, calls = fake(5, timedOut)
	if err := a.Adjust(context.Background(), "r0"); err == nil || len(*calls) != 3 {
		t.Fatalf("adjust timing out every time: %v, calls %q", err, *calls)
	}
	a, calls = fake(1, timedOut)
	if err := a.CreateMD(context.Background(), "r0"); err == nil || len(*calls) != 1 {
		t.Fatalf("create-md after a timeout: %v, calls %q (never twice)", err, *calls)
	}
	a, calls = fake(1, "r0: Failure: (102) Local address(port) already in use.")
	if err := a.Adjust(context.Background(), "r0"); err == nil || len(*calls) != 1 {
		t.Fatalf("adjust with another failure: %v, calls %q (not retried)", err, *calls)
	}
}
