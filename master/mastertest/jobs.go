package mastertest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
)

// Admin is the principal tests submit jobs as.
var Admin = api.Principal{User: "admin", Role: api.RoleAdmin, TokenID: "test"}

// Op builds an opcode from a kind and its parameters.
func Op(tb testing.TB, kind string, params any) api.OpCode {
	tb.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		tb.Fatalf("encode params: %v", err)
	}
	return api.OpCode{Kind: kind, Params: b}
}

// Submit submits a job of ops through m and fails the test on error.
func Submit(tb testing.TB, m *master.Master, prio int, ops ...api.OpCode) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := m.SubmitJob(ctx, Admin, api.JobSubmit{Ops: ops, Priority: prio})
	if err != nil {
		tb.Fatalf("submit: %v", err)
	}
	return id
}

// WaitJob waits until job id is finished and returns it.
func WaitJob(tb testing.TB, m *master.Master, id uint64, timeout time.Duration) *api.Job {
	tb.Helper()
	return WaitJobState(tb, m, id, timeout, func(j *api.Job) bool { return j.State.Finished() })
}

// WaitJobState waits until cond holds for job id (polling through WaitJob).
func WaitJobState(tb testing.TB, m *master.Master, id uint64, timeout time.Duration, cond func(*api.Job) bool) *api.Job {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var state api.JobState
	nlog := -1
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		j, err := m.WaitJob(ctx, id, state, nlog, time.Until(deadline)+time.Millisecond)
		cancel()
		if err != nil {
			if api.CodeOf(err) == api.CodeUnavailable {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			tb.Fatalf("wait job %d: %v", id, err)
		}
		if cond(j) {
			return j
		}
		state, nlog = j.State, len(j.Log)
	}
	tb.Fatalf("job %d: condition not met within %v", id, timeout)
	return nil
}
