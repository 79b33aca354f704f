package api_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/drover-project/drover/api"
)

var errGone = api.NewSentinel(api.CodeUnknownEntity, "test: gone")

// TestErrorKeepsItsCause: an API error made from another error unwraps to
// it, and CodeOf maps coded sentinels anywhere in a chain.
func TestErrorKeepsItsCause(t *testing.T) {
	e := api.Errorf(api.CodeUnavailable, "read instance: %w", context.DeadlineExceeded)
	if !errors.Is(e, context.DeadlineExceeded) || e.Code != api.CodeUnavailable || e.Message != "read instance: context deadline exceeded" {
		t.Fatalf("Errorf with %%w: %#v (is deadline: %v)", e, errors.Is(e, context.DeadlineExceeded))
	}
	wrapped := fmt.Errorf("step create: %w", errGone)
	ae := api.AsError(wrapped)
	if ae.Code != api.CodeUnknownEntity || !errors.Is(ae, errGone) || ae.Message != "step create: test: gone" {
		t.Fatalf("AsError of a wrapped sentinel: %#v", ae)
	}
	if c := api.CodeOf(fmt.Errorf("x: %w", api.Wrap(api.CodeWrongState, errGone))); c != api.CodeWrongState {
		t.Fatalf("CodeOf prefers the outer *Error: %s", c)
	}
	if c := api.CodeOf(errors.New("plain")); c != api.CodeInternal {
		t.Fatalf("CodeOf of a plain error: %s", c)
	}
	if c := api.CodeOf(nil); c != "" {
		t.Fatalf("CodeOf(nil) = %q", c)
	}
	if s := fmt.Sprint(api.Errorf(api.CodeWrongInput, "100%% sure")); s != "wrong_input: 100% sure" {
		t.Fatalf("Errorf formatting: %q", s)
	}
}
