package workload_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/nodeagent/hv/workload"
)

// writeFor runs a writer of ring on dev for d and returns its console.
func writeFor(t *testing.T, dev string, ring uint64, d time.Duration) string {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	if err := workload.Write(ctx, workload.WriterOptions{Device: dev, Ring: ring, Interval: 5 * time.Millisecond, Console: &out}); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write: %v\n%s", err, out.String())
	}
	return out.String()
}

// TestRingIgnoresLeftovers: a disk that still holds the records of another
// instance (an LV made on a removed instance's extents) is a new history for
// the next instance: its writer starts from 1 and its records check out,
// while the same instance started again continues after its own records.
func TestRingIgnoresLeftovers(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(dev, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	oldRing, newRing := workload.RingID("11111111-old"), workload.RingID("22222222-new")
	writeFor(t, dev, oldRing, 300*time.Millisecond)
	old, err := workload.Scan(dev, oldRing)
	if err != nil || workload.Highest(old) == 0 {
		t.Fatalf("the first instance wrote nothing: %v", err)
	}
	out := writeFor(t, dev, newRing, 200*time.Millisecond)
	if !strings.Contains(out, "from 1 ") {
		t.Fatalf("the new instance did not start from record 1 on a disk with another's records:\n%s", out)
	}
	if strings.Contains(out, "lost") {
		t.Fatalf("the other instance's records were taken for this one's:\n%s", out)
	}
	ring, err := workload.Scan(dev, newRing)
	if err != nil {
		t.Fatal(err)
	}
	h := workload.Highest(ring)
	if h == 0 {
		t.Fatal("the new instance wrote nothing")
	}
	if err := workload.Verify(dev, h, newRing); err != nil {
		t.Fatalf("the new instance's records: %v", err)
	}
	// The same instance again (a failover, a restart): it continues.
	out = writeFor(t, dev, newRing, 100*time.Millisecond)
	if !strings.Contains(out, "intact") || strings.Contains(out, "from 1 ") {
		t.Fatalf("the restarted writer did not continue after its own %d records:\n%s", h, out)
	}
}
