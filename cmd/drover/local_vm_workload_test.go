package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-project/drover/nodeagent/hv/workload"
)

// The agent starts `drover workload-run --device D --acks F --interval I`:
// the CLI's argument handling must pass those flags through.
func TestWorkloadRunCommand(t *testing.T) {
	dir := t.TempDir()
	dev, acks := filepath.Join(dir, "disk.img"), filepath.Join(dir, "acks.json")
	if err := os.WriteFile(dev, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(dev, 1<<20); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if code := run(ctx, []string{"drover", "workload-run", "--device", dev, "--acks", acks, "--interval", "5ms"}); code != exitOK {
		t.Fatalf("workload-run exit %d", code)
	}
	a, err := workload.ReadAcks(acks)
	if err != nil {
		t.Fatal(err)
	}
	if a.Acked < 1 || a.First != 1 {
		t.Errorf("acks %+v", a)
	}
	if err := workload.Verify(dev, a.Acked, 0); err != nil {
		t.Error(err)
	}
}
