package workload_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/hv/workload"
)

// The test binary doubles as the instance process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "workload-run" {
		if err := workload.Main(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newDriver(t *testing.T) *workload.Driver {
	d, err := workload.New(workload.Options{Dir: t.TempDir(), Command: []string{os.Args[0], "workload-run"},
		Interval: 5 * time.Millisecond, CPUs: 2, MemoryMiB: 4096, Logger: hvtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func disk(t *testing.T, mib int64) string {
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, mib<<20); err != nil {
		t.Fatal(err)
	}
	return p
}

func spec(t *testing.T, name string) hv.DomainSpec {
	return hv.DomainSpec{Name: name, Kind: hv.KindWorkload, VCPUs: 1, MemoryMiB: 64,
		Disks: []hv.Disk{{Path: disk(t, 4)}}, NICs: []hv.NIC{{MAC: hvtest.MAC(1)}}}
}

func TestConformance(t *testing.T) {
	hvtest.Run(t, func(t *testing.T) hv.Driver {
		d := newDriver(t)
		t.Cleanup(func() { d.Close() })
		return d
	}, hvtest.Caps{Spec: spec, GracefulShutdown: true, ShutdownTimeout: 10 * time.Second, Reboot: true, ReadyWait: 200 * time.Millisecond,
		Console: true, ConsoleWant: "ack ", ConsoleTimeout: 20 * time.Second})
}

// waitAcked waits until the ack file reports at least n records.
func waitAcked(t *testing.T, d *workload.Driver, name string, n uint64) workload.Acks {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := workload.ReadAcks(d.AckFile(name))
		if err == nil && a.Acked >= n {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("acks of %s: %+v %v, want %d", name, a, err, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAcknowledgedRecordsSurviveAndNumberingContinues(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t)
	s := spec(t, "w1")
	if err := d.Define(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, s.Name); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, d, s.Name, 50)
	// A kill loses at most the record in flight, never an acknowledged one.
	if err := d.Destroy(ctx, s.Name); err != nil {
		t.Fatal(err)
	}
	a, err := workload.ReadAcks(d.AckFile(s.Name))
	if err != nil {
		t.Fatal(err)
	}
	if err := workload.Verify(s.Disks[0].Path, a.Acked, 0); err != nil {
		t.Fatalf("after kill: %v", err)
	}
	if err := d.Start(ctx, s.Name); err != nil {
		t.Fatal(err)
	}
	b := waitAcked(t, d, s.Name, a.Acked+20)
	if b.First <= a.Acked {
		t.Errorf("restarted writer began at %d, not after the acknowledged %d", b.First, a.Acked)
	}
	if err := d.Shutdown(ctx, s.Name, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	b, _ = workload.ReadAcks(d.AckFile(s.Name))
	if err := workload.Verify(s.Disks[0].Path, b.Acked, 0); err != nil {
		t.Fatal(err)
	}
	// A record beyond what was written is reported lost: Verify checks.
	if err := workload.Verify(s.Disks[0].Path, b.Acked+1, 0); !errors.Is(err, workload.ErrLost) {
		t.Errorf("verify past the last record: %v, want ErrLost", err)
	}
	// Damage one acknowledged record: Verify must see it.
	f, err := os.OpenFile(s.Disks[0].Path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), int64(b.Acked%workload.MaxSlots)*workload.BlockSize+100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := workload.Verify(s.Disks[0].Path, b.Acked, 0); !errors.Is(err, workload.ErrLost) {
		t.Errorf("verify with a damaged record: %v, want ErrLost", err)
	}
}

func TestDefineNeedsDisk(t *testing.T) {
	d := newDriver(t)
	s := spec(t, "nodisk")
	s.Disks = nil
	if err := d.Define(context.Background(), s); !errors.Is(err, hv.ErrInvalidSpec) {
		t.Errorf("define without disk: %v", err)
	}
}

func TestAdoptsRunningWriterAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mk := func() *workload.Driver {
		d, err := workload.New(workload.Options{Dir: dir, Command: []string{os.Args[0], "workload-run"}, MemoryMiB: 1024})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d1 := mk()
	s := spec(t, "w2")
	if err := d1.Define(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := d1.Start(ctx, s.Name); err != nil {
		t.Fatal(err)
	}
	d2 := mk() // as after an agent restart
	if st, err := d2.State(ctx, s.Name); err != nil || st != hv.StateRunning {
		t.Fatalf("state seen by a new driver: %s %v", st, err)
	}
	if err := d2.Destroy(ctx, s.Name); err != nil {
		t.Fatal(err)
	}
	if st, _ := d1.State(ctx, s.Name); st != hv.StateStopped {
		t.Errorf("state after destroy: %s", st)
	}
}
