package nodeagent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// staticHypervisor reports fixed resources: the stall test needs only the
// lease and the status, no domains.
type staticHypervisor struct{}

func (staticHypervisor) Name() string { return "fake" }
func (staticHypervisor) Resources(context.Context) (api.NodeResources, error) {
	return api.NodeResources{CPUs: 2, MemoryTotalMiB: 1024, MemoryFreeMiB: 1024}, nil
}

// TestAgentSurvivesStalledMember is the regression test of issue 7's first
// defect: one stalled etcd member (of three; the other two a healthy quorum)
// made every agent self-fence, its keep-alive hanging on that member until the
// deadline. Each member in turn is stalled for 2 x TTL: the agent keeps its
// one lease and never fences.
func TestAgentSurvivesStalledMember(t *testing.T) {
	realtest.Short(t, "three etcd members, 20 s")
	urls := startEtcd3(t)
	var proxies []*stallProxy
	var eps []string
	for _, u := range urls {
		p := newStallProxy(t, u[len("http://"):])
		proxies = append(proxies, p)
		eps = append(eps, p.URL())
	}
	logs := &logCapture{next: slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})}
	const ttl = 3 * time.Second
	a, err := New(Config{
		Credentials: api.NodeCredentials{Node: "n1", EtcdEndpoints: eps, EtcdUser: "n1"},
		Hypervisor:  staticHypervisor{}, LeaseTTL: ttl,
	}, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(30 * time.Second)
	for logs.count("lease_granted", "") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no lease granted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, p := range proxies {
		p.Stall(true)
		time.Sleep(2 * ttl)
		p.Stall(false)
		if n := logs.count("lease_lost_self_fence", ""); n > 0 {
			t.Fatalf("stall of member %d: the agent fenced itself (%d times)", i+1, n)
		}
	}
	if n := logs.count("lease_granted", ""); n != 1 {
		t.Errorf("%d leases granted, want the first one kept", n)
	}
	t.Logf("keep-alive attempts a stalled member did not answer: %d", logs.count("keepalive_attempt_failed", ""))
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

// TestAgentRegrantsEarlyRevokedLease: a lease revoked while the agent still
// trusts it (what an etcd leader does when it resumes after a freeze longer
// than the TTL: it revokes the leases it saw expire by its own clock) is
// replaced by a new one before the old one's FenceAt, without a self-fence.
func TestAgentRegrantsEarlyRevokedLease(t *testing.T) {
	_, ep := startEtcd(t)
	logs := &logCapture{next: slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})}
	a, err := New(Config{
		Credentials: api.NodeCredentials{Node: "n1", EtcdEndpoints: []string{ep}, EtcdUser: "n1"},
		Hypervisor:  staticHypervisor{}, LeaseTTL: 3 * time.Second,
	}, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	key := keys.NodeStatusKey("n1")
	var lease int64
	waitUntil(t, 20*time.Second, "status published", func() bool {
		resp, err := cli.Get(ctx, key)
		if err == nil && len(resp.Kvs) == 1 {
			lease = resp.Kvs[0].Lease
		}
		return lease != 0
	})
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(lease)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "status under a new lease", func() bool {
		resp, err := cli.Get(ctx, key)
		return err == nil && len(resp.Kvs) == 1 && resp.Kvs[0].Lease != lease
	})
	if n := logs.count("lease_lost_self_fence", "") + logs.count("self_fence_done", ""); n > 0 {
		t.Fatalf("the agent fenced itself after an early revocation (%d)", n)
	}
	if logs.count("lease_revoked_early", "") != 1 {
		t.Fatal("no lease_revoked_early logged")
	}
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
