package drbd

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/drover-project/drover/master/keys"
)

// The reattacher waits ReattachSettle, attaches, backs off while attach
// fails, and leaves alone what is not the agent's or not detached.
func TestReattacher(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "drbd.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"r0", "r1"} {
		if err := os.WriteFile(filepath.Join(dir, "drbd.d", n+".res"), []byte("resource "+n+" {}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var calls [][]string
	failing := true
	a := &Admin{Version: Version{8, 4, 11}, ConfDir: dir, Run: func(_ context.Context, _, name string, args ...string) ([]byte, error) {
		calls = append(calls, append([]string{name}, args...))
		if failing {
			return []byte("r0: Failure: (118) IO error(s) occurred during initial access to meta-data."), errors.New("exit status 10")
		}
		return nil, nil
	}}
	r := &Reattacher{Admin: a, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res := []keys.DRBDResource{
		{Name: "r0", Role: "Secondary", Minor: 0, Disk: "Diskless"},
		{Name: "r1", Role: "Primary", Minor: 1, Disk: "UpToDate"},
		{Name: "other", Role: "Secondary", Minor: 2, Disk: "Diskless"}, // no file: not the agent's
		{Name: "r1", Minor: -1, Disk: "Diskless"},                      // no minor: not up
	}
	t0 := time.Unix(1000, 0)
	step := func(after time.Duration, want ...string) {
		t.Helper()
		if got := r.Once(context.Background(), t0.Add(after), res); !slices.Equal(got, want) {
			t.Errorf("at +%v: tried %v, want %v", after, got, want)
		}
	}
	step(0)               // first seen Diskless: wait
	step(5 * time.Second) // not settled
	step(10*time.Second, "r0")
	step(15 * time.Second) // attach failed: next in 20 s
	step(30*time.Second, "r0")
	step(60 * time.Second) // then 40 s
	step(70*time.Second, "r0")
	failing = false
	step(80 * time.Second) // 60 s at most
	step(130*time.Second, "r0")
	if len(calls) != 4 {
		t.Fatalf("%d drbdadm calls, want 4: %v", len(calls), calls)
	}
	want := []string{"drbdadm", "--config-file", filepath.Join(dir, "drbd.conf"), "attach", "r0"}
	if !slices.Equal(calls[3], want) {
		t.Errorf("call %v, want %v", calls[3], want)
	}
	// Attached: r0 is forgotten; Diskless again later starts anew.
	res[0].Disk = "UpToDate"
	step(140 * time.Second)
	res[0].Disk = "Diskless"
	step(150 * time.Second)
	step(155 * time.Second)
	step(160*time.Second, "r0")
}
