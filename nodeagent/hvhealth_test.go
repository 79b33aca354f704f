package nodeagent

import (
	"context"
	"fmt"
	"testing"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/nodeagent/hv"
)

func TestHypervisorHealth(t *testing.T) {
	good := api.NodeResources{CPUs: 2, MemoryTotalMiB: 1024, MemoryFreeMiB: 512}
	// What libvirt's driver returns when the caller's deadline passes.
	slow := fmt.Errorf("%w: no answer before the caller's deadline: %w", hv.ErrHypervisorDown, context.DeadlineExceeded)
	down := fmt.Errorf("%w: %w", errHypervisorUnhealthy, hv.ErrHypervisorDown)
	var h hvHealth

	if _, ok, _ := h.observe(api.NodeResources{}, slow); ok {
		t.Error("a failure before any success was reported OK")
	}
	if r, ok, msg := h.observe(good, nil); !ok || r != good || msg != "" {
		t.Errorf("success: %+v %v %q", r, ok, msg)
	}
	for i := 1; i < hvFailuresBeforeDown; i++ {
		r, ok, msg := h.observe(api.NodeResources{}, slow)
		if !ok || r != good || msg == "" {
			t.Errorf("transient failure %d: %+v ok=%v %q; want the last resources, OK, the error", i, r, ok, msg)
		}
	}
	if _, ok, _ := h.observe(api.NodeResources{}, slow); ok {
		t.Errorf("%d failures in a row still OK", hvFailuresBeforeDown)
	}
	if _, ok, _ := h.observe(good, nil); !ok {
		t.Error("a success after failures is not OK")
	}
	if _, ok, msg := h.observe(api.NodeResources{}, down); ok || msg == "" {
		t.Errorf("a lost connection: ok=%v %q; want not OK at once", ok, msg)
	}
}
