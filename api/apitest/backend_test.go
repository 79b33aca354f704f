package apitest

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
)

func TestBackendJobsAndTokens(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()

	tok, err := b.Token("alice", api.RoleOperate, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.Verifier().Verify(tok, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckToken(ctx, p); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	forged := p
	forged.Role = api.RoleAdmin
	if api.CodeOf(b.CheckToken(ctx, forged)) != api.CodeUnauthorized {
		t.Fatal("role mismatch accepted")
	}

	// WaitJob returns at once on a change, and after the timeout otherwise.
	id, err := b.SubmitJob(ctx, p, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpDebugDelay, api.DebugDelay{Duration: "30ms", Steps: 3})}})
	if err != nil {
		t.Fatal(err)
	}
	j, err := b.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for !j.State.Finished() {
		if j, err = b.WaitJob(ctx, id, j.State, len(j.Log), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if j.State != api.JobSuccess || j.OpStatus[0].StepsDone != 3 || j.Submitter != "alice" {
		t.Fatalf("job %+v", j)
	}
	for i, e := range j.Log {
		if e.Serial != i+1 {
			t.Fatalf("log serials %+v", j.Log)
		}
	}
	start := time.Now()
	if _, err := b.WaitJob(ctx, id, api.JobRunning, len(j.Log), time.Second); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Fatal("WaitJob on a finished job did not return at once")
	}
	// Submit-time checks.
	if _, err := b.SubmitJob(ctx, p, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpNodeRemove, api.NodeRemove{Name: "ghost"})}}); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Fatalf("remove unknown node: %v", err)
	}
	// Removing the user kills its tokens, even if the name comes back.
	if err := b.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddUser(ctx, api.UserAdd{Name: "alice", Role: api.RoleOperate}); err != nil {
		t.Fatal(err)
	}
	if api.CodeOf(b.CheckToken(ctx, p)) != api.CodeUnauthorized {
		t.Fatal("token of a removed user accepted")
	}
}

func TestBackendCloseStopsRunner(t *testing.T) {
	before := runtime.NumGoroutine()
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	id, err := b.SubmitJob(context.Background(), api.Principal{User: "x"}, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpDebugDelay, api.DebugDelay{Duration: "1h"})}})
	if err != nil || id == 0 {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	b.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines: %d before, %d after Close", before, n)
	}
	if _, err := b.SubmitJob(context.Background(), api.Principal{}, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpDebugDelay, api.DebugDelay{Duration: "0s"})}}); api.CodeOf(err) != api.CodeUnavailable {
		t.Fatalf("submit after close: %v", err)
	}
}

func TestConformance(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	Conformance(t, b, b.Verifier())
}
