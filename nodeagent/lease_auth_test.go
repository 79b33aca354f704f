package nodeagent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/mastertest"
)

// TestAgentNeedsNoAuthToken is the regression test of issue 7's second
// defect: agents logged in with a password, and clientv3 authenticates anew
// for every stream (each KeepAliveOnce); the new simple token is known only to
// the members that applied it, so a keep-alive that reaches a member lagging
// behind fails with "invalid auth token" (4-5 times a minute on an idle
// 3-master cluster). Here on three masters, and once more after etcd dropped
// every token (auth switched off and on). Agents now authenticate by their
// client certificate: no token at all.
func TestAgentNeedsNoAuthToken(t *testing.T) {
	realtest.Short(t, "three masters and an agent, 30 s")
	c := mastertest.Start(t, mastertest.Options{Masters: 3})
	m := c.Masters[0].M
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "n1"}))
	if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("node add: %+v", j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cred, err := m.NodeCredentials(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logCapture{next: slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})}
	const ttl = 3 * time.Second
	a, err := New(Config{Credentials: *cred, Hypervisor: staticHypervisor{}, LeaseTTL: ttl}, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() { acancel(); <-done }()
	for {
		n, err := m.GetNode(ctx, "n1")
		if err == nil && n.Status == api.NodeOnline {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("node n1 never online")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(5 * ttl)
	// Every auth token etcd issued is dropped.
	root := m.Client()
	if _, err := root.AuthDisable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := root.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * ttl)
	if n := logs.count("", "invalid auth token"); n > 0 {
		t.Errorf("%d log records with invalid auth token", n)
	}
	if n := logs.count("lease_lost_self_fence", "") + logs.count("keepalive_failed", "") + logs.count("keepalive_attempt_failed", ""); n > 0 {
		t.Errorf("%d failed keep-alives or self-fences after the tokens were dropped", n)
	}
	n, err := m.GetNode(ctx, "n1")
	if err != nil || n.Status != api.NodeOnline {
		t.Fatalf("node n1 after the tokens were dropped: %+v %v", n, err)
	}
}
