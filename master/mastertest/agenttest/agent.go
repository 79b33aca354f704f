// Package agenttest runs real node agents in process for master tests (a
// package apart from mastertest, which the agent's own tests import).
package agenttest

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/nodeagent"
	"github.com/drover-project/drover/nodeagent/hv"
)

// Agent is a real node agent (package nodeagent) of one node, in process,
// driving a hypervisor driver that the test also holds (the fake one, as a
// rule), so that master tests exercise the real command path: etcd
// commands, the agent's checks and executor, domain states it publishes.
type Agent struct {
	Node    string
	Driver  *CountingDriver
	Storage string

	tb   testing.TB
	cfg  nodeagent.Config
	mu   sync.Mutex
	stop func()
}

// Start adds node (a node.add job through m) unless it exists, and
// runs its agent with drv and a fresh storage directory; the agent stops
// when the test ends.
func Start(tb testing.TB, m *master.Master, node string, drv hv.Driver) *Agent {
	tb.Helper()
	return StartWith(tb, m, node, drv, nil)
}

// StartWith is Start with a change to the agent's configuration (such as
// its etcd endpoints) before it runs.
func StartWith(tb testing.TB, m *master.Master, node string, drv hv.Driver, change func(*nodeagent.Config)) *Agent {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := m.GetNode(ctx, node); api.CodeOf(err) == api.CodeUnknownEntity {
		id := mastertest.Submit(tb, m, 0, mastertest.Op(tb, api.OpNodeAdd, api.NodeAdd{Name: node}))
		if j := mastertest.WaitJob(tb, m, id, 30*time.Second); j.State != api.JobSuccess {
			tb.Fatalf("node add %s: %+v", node, j.Error)
		}
	}
	cred, err := m.NodeCredentials(ctx, node)
	if err != nil {
		tb.Fatalf("credentials of %s: %v", node, err)
	}
	a := &Agent{Node: node, Driver: NewCountingDriver(drv), Storage: tb.TempDir(), tb: tb}
	a.cfg = nodeagent.Config{Credentials: *cred, Driver: a.Driver, StorageDir: a.Storage,
		APIToken: cred.APIToken, DomainResync: 300 * time.Millisecond, StagingDir: "disk"}
	if change != nil {
		change(&a.cfg)
	}
	a.Start()
	tb.Cleanup(a.Stop)
	mastertest.WaitFor(tb, 30*time.Second, "node "+node+" online", func() bool {
		n, err := m.GetNode(context.Background(), node)
		return err == nil && n.Status == api.NodeOnline
	})
	return a
}

// Start runs the agent (again, after Stop).
func (a *Agent) Start() {
	a.tb.Helper()
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("DROVER_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("agent", a.Node)
	}
	ag, err := nodeagent.New(a.cfg, log)
	if err != nil {
		a.tb.Fatalf("agent %s: %v", a.Node, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	a.mu.Lock()
	a.stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			a.tb.Errorf("agent %s did not stop", a.Node)
		}
	}
	a.mu.Unlock()
}

// Stop stops the agent (its lease is revoked: the node is unreachable at
// once). Stopping a stopped agent does nothing.
func (a *Agent) Stop() {
	a.mu.Lock()
	stop := a.stop
	a.stop = nil
	a.mu.Unlock()
	if stop != nil {
		stop()
	}
}
