package nodeagent_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/hv/workload"
	"github.com/drover-project/drover/nodeagent/storage"
)

// TestMigrateWorkloadHandOver runs the migration commands of two nodes'
// executors on one disk (standing in for a DRBD device both nodes have):
// the source's writer stops and reports its last acknowledgement, only then
// does the target's start, continuing the numbering; no acknowledged
// record is lost.
func TestMigrateWorkloadHandOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := storage.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	newNode := func() (*workload.Driver, *nodeagent.Executor) {
		d, err := workload.New(workload.Options{Dir: t.TempDir(), Command: []string{os.Args[0], "workload-run"},
			Interval: 5 * time.Millisecond, CPUs: 2, MemoryMiB: 4096, Logger: hvtest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return d, nodeagent.NewExecutor(d, st, nil, "disk", hvtest.Logger(t))
	}
	dA, xA := newNode()
	dB, xB := newNode()
	inst := keys.InstanceRecord{Name: "w1", UUID: "0b1e0000-0000-4000-8000-000000000001", Hypervisor: "workload",
		DiskTemplate: "file", Disks: []keys.DiskSpec{{SizeMiB: 4}}, VCPUs: 1, MemoryMiB: 64}
	run := func(x *nodeagent.Executor, kind string, params any) json.RawMessage {
		t.Helper()
		c := keys.NodeCommand{ID: kind, Kind: kind, Instance: inst}
		if params != nil {
			c.Params, _ = json.Marshal(params)
		}
		out, err := x.Run(ctx, c, nil)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		return out
	}
	acked := func(d *workload.Driver) uint64 {
		a, _ := workload.ReadAcks(d.AckFile("w1"))
		return a.Acked
	}
	waitAcks := func(d *workload.Driver, n uint64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for acked(d) < n {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d records acknowledged (%d)", n, acked(d))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	run(xA, keys.CmdInstanceCreate, nil)
	run(xA, keys.CmdInstanceStart, nil)
	waitAcks(dA, 20)

	var tgt keys.MigrateTarget
	if err := json.Unmarshal(run(xB, keys.CmdInstanceMigratePrepare, nil), &tgt); err != nil {
		t.Fatal(err)
	}
	var src keys.MigrateSourceOutput
	if err := json.Unmarshal(run(xA, keys.CmdInstanceMigrate, keys.MigrateParams{Target: tgt}), &src); err != nil {
		t.Fatal(err)
	}
	if src.LastAck < 20 {
		t.Fatalf("last ack of the source %d, want >= 20", src.LastAck)
	}
	if _, err := dA.State(ctx, "w1"); !errors.Is(err, hv.ErrNotFound) {
		t.Fatalf("source after the hand-over: %v, want no domain (its writer stopped, undefined)", err)
	}
	var fin keys.MigrateFinishOutput
	if err := json.Unmarshal(run(xB, keys.CmdInstanceMigrateFinish, keys.MigrateParams{Target: tgt, Source: src.Source}), &fin); err != nil {
		t.Fatal(err)
	}
	if fin.State != string(hv.StateRunning) {
		t.Fatalf("target after finish: %q", fin.State)
	}
	waitAcks(dB, src.LastAck+20)
	if a, _ := workload.ReadAcks(dB.AckFile("w1")); a.First != src.LastAck+1 {
		t.Errorf("the target's writer began at record %d, want %d (right after the source's last)", a.First, src.LastAck+1)
	}
	// A finish run again (a resumed job) changes nothing.
	run(xB, keys.CmdInstanceMigrateFinish, keys.MigrateParams{Target: tgt})
	if err := dB.Shutdown(ctx, "w1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := workload.Verify(tgt.Disks[0], acked(dB), 0); err != nil {
		t.Fatalf("after the hand-over: %v", err)
	}
	// Forget on a node where the instance runs is refused; where it does
	// not, it removes the leftovers (here: nothing of A's own).
	if err := dB.Start(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	if _, err := xB.Run(ctx, keys.NodeCommand{ID: "f", Kind: keys.CmdInstanceMigrateForget, Instance: inst}, nil); err == nil {
		t.Error("forget of a running instance succeeded")
	}
	// With running (the master saw the primary's own copy run): the
	// second copy is destroyed.
	params, _ := json.Marshal(keys.MigrateForgetParams{Running: true})
	if _, err := xB.Run(ctx, keys.NodeCommand{ID: "f2", Kind: keys.CmdInstanceMigrateForget, Instance: inst, Params: params}, nil); err != nil {
		t.Fatalf("forget of a running second copy: %v", err)
	}
	if st, err := dB.State(ctx, "w1"); err == nil && st == hv.StateRunning {
		t.Errorf("the second copy still runs after forget with running")
	}
}
