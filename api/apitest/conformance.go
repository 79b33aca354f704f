package apitest

import (
	"context"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
)

// Conformance runs the behaviour every api.Backend must have (users, tokens
// and revocation, jobs and their waits, node jobs) against b, whose tokens v
// verifies. It makes users, nodes and jobs with fresh random names, so b may
// hold other state. Run it against the in-memory Backend and the master alike.
func Conformance(t *testing.T, b api.Backend, v *api.Verifier) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sfx := randomID()[:8]
	user := "conf-" + sfx
	node := "conf-node-" + sfx

	t.Run("cluster", func(t *testing.T) {
		info, err := b.ClusterInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.AnsweredBy != b.MasterName() || info.Name == "" {
			t.Fatalf("cluster info %+v (master %q)", info, b.MasterName())
		}
		if _, err := b.ClusterVerify(ctx); err != nil {
			t.Fatal(err)
		}
	})

	var p api.Principal
	t.Run("users and tokens", func(t *testing.T) {
		if _, err := b.AddUser(ctx, api.UserAdd{Name: user, Role: api.RoleOperate}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.AddUser(ctx, api.UserAdd{Name: user, Role: api.RoleRead}); api.CodeOf(err) != api.CodeAlreadyExists {
			t.Fatalf("duplicate user: %v", err)
		}
		if _, err := b.IssueToken(ctx, "conf-ghost-"+sfx, time.Hour); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("token for unknown user: %v", err)
		}
		tok1, err := b.IssueToken(ctx, user, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tok2, err := b.IssueToken(ctx, user, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p1 := verify(t, v, tok1)
		p = verify(t, v, tok2)
		if p1.User != user || p1.Role != api.RoleOperate || p1.TokenID == p.TokenID {
			t.Fatalf("principals %+v %+v", p1, p)
		}
		if err := b.CheckToken(ctx, p1); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
		if err := b.RevokeToken(ctx, p1.TokenID); err != nil {
			t.Fatal(err)
		}
		if err := b.CheckToken(ctx, p1); api.CodeOf(err) != api.CodeUnauthorized {
			t.Fatalf("revoked token: %v", err)
		}
		if err := b.CheckToken(ctx, p); err != nil {
			t.Fatalf("other token refused after a revoke: %v", err)
		}
		toks, err := b.ListTokens(ctx, user)
		if err != nil || len(toks) != 2 {
			t.Fatalf("list tokens: %+v %v", toks, err)
		}
		for _, tk := range toks {
			if tk.Token != "" {
				t.Fatal("ListTokens returns the signed token")
			}
			if tk.Revoked != (tk.ID == p1.TokenID) {
				t.Fatalf("token %s revoked=%v", tk.ID, tk.Revoked)
			}
		}
		if err := b.RevokeToken(ctx, "conf-no-such-token"); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("revoke unknown token: %v", err)
		}
	})

	waitDone := func(t *testing.T, id uint64) *api.Job {
		t.Helper()
		j, err := b.GetJob(ctx, id)
		for err == nil && !j.State.Finished() {
			j, err = b.WaitJob(ctx, id, j.State, len(j.Log), 10*time.Second)
		}
		if err != nil {
			t.Fatalf("job %d: %v", id, err)
		}
		return j
	}
	submit := func(t *testing.T, kind string, params any) uint64 {
		t.Helper()
		id, err := b.SubmitJob(ctx, p, api.JobSubmit{Ops: []api.OpCode{api.MustOp(kind, params)}})
		if err != nil {
			t.Fatalf("submit %s: %v", kind, err)
		}
		return id
	}

	t.Run("jobs", func(t *testing.T) {
		id := submit(t, api.OpDebugDelay, api.DebugDelay{Duration: "300ms", Steps: 3})
		j := waitDone(t, id)
		if j.State != api.JobSuccess || j.Submitter != user || len(j.OpStatus) != 1 || j.OpStatus[0].StepsDone != 3 {
			t.Fatalf("delay job %+v", j)
		}
		for i, e := range j.Log {
			if e.Serial != i+1 {
				t.Fatalf("log serials %+v", j.Log)
			}
		}
		start := time.Now()
		if _, err := b.WaitJob(ctx, id, api.JobRunning, len(j.Log), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("WaitJob on a finished job did not return at once")
		}
		if err := b.CancelJob(ctx, id); api.CodeOf(err) != api.CodeWrongState {
			t.Fatalf("cancel finished job: %v", err)
		}
		jobs, err := b.ListJobs(ctx, api.JobFilter{States: []api.JobState{api.JobSuccess}, Limit: 1})
		if err != nil || len(jobs) != 1 || jobs[0].State != api.JobSuccess {
			t.Fatalf("list jobs: %+v %v", jobs, err)
		}
		fid := submit(t, api.OpDebugDelay, api.DebugDelay{Duration: "0s", Fail: true})
		if j := waitDone(t, fid); j.State != api.JobError || j.Error == nil || j.Error.Code != api.CodeWrongState {
			t.Fatalf("failing job %+v", j)
		}
		if _, err := b.GetJob(ctx, 1<<62); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("unknown job: %v", err)
		}
		if _, err := b.SubmitJob(ctx, p, api.JobSubmit{Ops: []api.OpCode{{Kind: "conf.nope", Params: []byte(`{}`)}}}); api.CodeOf(err) != api.CodeWrongInput {
			t.Fatalf("unknown opcode: %v", err)
		}
	})

	t.Run("nodes", func(t *testing.T) {
		if _, err := b.GetNode(ctx, node); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("unknown node: %v", err)
		}
		if _, err := b.NodeCredentials(ctx, node); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("credentials of unknown node: %v", err)
		}
		if j := waitDone(t, submit(t, api.OpNodeAdd, api.NodeAdd{Name: node})); j.State != api.JobSuccess {
			t.Fatalf("node.add %+v", j)
		}
		if _, err := b.SubmitJob(ctx, p, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpNodeAdd, api.NodeAdd{Name: node})}}); api.CodeOf(err) != api.CodeAlreadyExists {
			t.Fatalf("second node.add: %v", err)
		}
		yes := true
		if j := waitDone(t, submit(t, api.OpNodeModify, api.NodeModifyOp{Name: node, NodeModify: api.NodeModify{Drained: &yes}})); j.State != api.JobSuccess {
			t.Fatalf("node.modify %+v", j)
		}
		n, err := b.GetNode(ctx, node)
		if err != nil || !n.Drained || n.Name != node {
			t.Fatalf("node after modify: %+v %v", n, err)
		}
		nodes, err := b.ListNodes(ctx)
		found := false
		for _, x := range nodes {
			found = found || x.Name == node
		}
		if err != nil || !found {
			t.Fatalf("node not listed: %v", err)
		}
		if j := waitDone(t, submit(t, api.OpNodeRemove, api.NodeRemove{Name: node})); j.State != api.JobSuccess {
			t.Fatalf("node.remove %+v", j)
		}
		if _, err := b.GetNode(ctx, node); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("removed node: %v", err)
		}
	})

	t.Run("remove user", func(t *testing.T) {
		if err := b.RemoveUser(ctx, user); err != nil {
			t.Fatal(err)
		}
		if err := b.CheckToken(ctx, p); api.CodeOf(err) != api.CodeUnauthorized {
			t.Fatalf("token of removed user: %v", err)
		}
		if err := b.RemoveUser(ctx, user); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("remove twice: %v", err)
		}
		// The name may come back, but not its old tokens.
		if _, err := b.AddUser(ctx, api.UserAdd{Name: user, Role: api.RoleOperate}); err != nil {
			t.Fatal(err)
		}
		if err := b.CheckToken(ctx, p); api.CodeOf(err) != api.CodeUnauthorized {
			t.Fatalf("old token after the user came back: %v", err)
		}
		if err := b.RemoveUser(ctx, user); err != nil {
			t.Fatal(err)
		}
	})
}

func verify(t *testing.T, v *api.Verifier, tok *api.Token) api.Principal {
	t.Helper()
	if tok.Token == "" || tok.ID == "" {
		t.Fatalf("issued token %+v", tok)
	}
	p, err := v.Verify(tok.Token, time.Now())
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	if p.TokenID != tok.ID {
		t.Fatalf("token id %s, claims say %s", tok.ID, p.TokenID)
	}
	return p
}
