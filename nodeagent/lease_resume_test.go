package nodeagent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/nodeagent"
	"github.com/drover-project/drover/nodeagent/hv/workload"
)

// agentProcess is what runAgentProcess reads: the agent of one node with the
// workload driver, in a process of its own.
type agentProcess struct {
	Credentials api.NodeCredentials `json:"credentials"`
	Storage     string              `json:"storage"`
	// StartupDelay is a slow start-up (a loaded guest opening its volume
	// group): between the lease bridge's start and the agent's Run, as in
	// `drover agent`.
	StartupDelay time.Duration `json:"startup_delay"`
	// NoBridge starts no lease bridge (the behaviour before it).
	NoBridge bool `json:"no_bridge"`
}

// runAgentProcess runs the agent described by the file at path until the
// process is killed, in the order of `drover agent`: the lease bridge first,
// then the (slow) start-up, then Run.
func runAgentProcess(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var p agentProcess
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var bridge *nodeagent.LeaseBridge
	if !p.NoBridge {
		bridge = nodeagent.StartLeaseBridge(p.Credentials, p.Storage, 0, nil, log)
	}
	time.Sleep(p.StartupDelay)
	drv, err := workload.New(workload.Options{Dir: filepath.Join(p.Storage, "workload"), Command: []string{os.Args[0], "workload-run"}})
	if err != nil {
		return err
	}
	a, err := nodeagent.New(nodeagent.Config{Credentials: p.Credentials, Driver: drv, StorageDir: p.Storage, Bridge: bridge}, log)
	if err != nil {
		return err
	}
	return a.Run(context.Background())
}

// restartHarness runs node n1's agent in processes of its own against a
// one-master cluster and watches its status key.
type restartHarness struct {
	t   *testing.T
	ctx context.Context
	cli *clientv3.Client
	m   interface {
		GetNode(context.Context, string) (*api.Node, error)
	}
	cred   api.NodeCredentials
	dir    string
	logs   []string
	wch    clientv3.WatchChan
	status string
}

func newRestartHarness(t *testing.T) *restartHarness {
	c := mastertest.Start(t, mastertest.Options{})
	m := c.Masters[0].M
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "n1"}))
	if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("node add: %+v", j)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	cred, err := m.NodeCredentials(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if cred.LeaseTTL == 0 {
		cred.LeaseTTL = 5
	}
	h := &restartHarness{t: t, ctx: ctx, cli: m.Client(), m: m, cred: *cred, dir: t.TempDir(), status: keys.NodeStatusKey("n1")}
	t.Cleanup(func() {
		if t.Failed() {
			for _, lf := range h.logs {
				b, _ := os.ReadFile(lf)
				t.Logf("%s:\n%s", filepath.Base(lf), b)
			}
		}
	})
	return h
}

func (h *restartHarness) ttl() time.Duration { return time.Duration(h.cred.LeaseTTL) * time.Second }

// start starts an agent process with p (credentials and storage filled in).
func (h *restartHarness) start(p agentProcess) *exec.Cmd {
	t := h.t
	t.Helper()
	p.Credentials, p.Storage = h.cred, filepath.Join(h.dir, "storage")
	cfgPath := filepath.Join(h.dir, fmt.Sprintf("agent%d.json", len(h.logs)))
	b, _ := json.Marshal(p)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	lf := filepath.Join(h.dir, fmt.Sprintf("agent%d.log", len(h.logs)))
	h.logs = append(h.logs, lf)
	out, err := os.Create(lf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "agent-run", cfgPath)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); out.Close() })
	return cmd
}

func kill(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// lease returns the status key's lease and the agent's start time.
func (h *restartHarness) lease() (int64, time.Time) {
	r, err := h.cli.Get(h.ctx, h.status)
	if err != nil || len(r.Kvs) == 0 {
		return 0, time.Time{}
	}
	var st keys.NodeStatus
	_ = json.Unmarshal(r.Kvs[0].Value, &st)
	return r.Kvs[0].Lease, st.StartedAt
}

// published waits for a status written by an agent started after since.
func (h *restartHarness) published(since time.Time, within time.Duration) (int64, bool) {
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if l, at := h.lease(); l != 0 && at.After(since) {
			return l, true
		}
	}
	return 0, false
}

// watchDeletes records every delete of the status key from now on.
func (h *restartHarness) watchDeletes() {
	r, err := h.cli.Get(h.ctx, h.status)
	if err != nil {
		h.t.Fatal(err)
	}
	h.wch = h.cli.Watch(h.ctx, h.status, clientv3.WithRev(r.Header.Revision+1), clientv3.WithFilterPut())
}

// deleted reports whether the status key was deleted since watchDeletes
// (or the last deleted that said so).
func (h *restartHarness) deleted() bool {
	select {
	case <-h.wch:
		return true
	default:
		return false
	}
}

// firstKilled starts the first agent, waits for its status, watches the
// status key's deletes from then on and kills it; it returns its lease.
func (h *restartHarness) firstKilled() int64 {
	h.t.Helper()
	t0 := time.Now()
	a1 := h.start(agentProcess{})
	lease1, ok := h.published(t0, 30*time.Second)
	if !ok {
		h.t.Fatal("the first agent published no status")
	}
	h.watchDeletes()
	kill(a1)
	return lease1
}

// TestAgentKilledTakesOverItsLease: an agent killed with SIGKILL and started
// again within its lease takes that lease over: the node's status key is
// never deleted (the master never sees the node unreachable, so nothing can
// be fenced) and it carries the same lease. An agent that comes back after
// its lease expired does not revive it: it takes a new one.
func TestAgentKilledTakesOverItsLease(t *testing.T) {
	h := newRestartHarness(t)
	lease1 := h.firstKilled()
	t1 := time.Now()
	a2 := h.start(agentProcess{})
	lease2, ok := h.published(t1, 30*time.Second)
	if !ok {
		t.Fatal("the restarted agent published no status")
	}
	if lease2 != lease1 {
		t.Fatalf("the restarted agent took a new lease %x, not its previous process's %x that still lived", lease2, lease1)
	}
	// The lease is renewed by the new process: alive well past the old
	// process's last renewal plus the TTL.
	time.Sleep(h.ttl() + time.Second)
	if l, _ := h.lease(); l != lease1 {
		t.Fatalf("status lease after a TTL: %x, want %x (renewed by the new process)", l, lease1)
	}
	if h.deleted() {
		t.Fatal("the status key was deleted while the agent restarted")
	}
	if n, err := h.m.GetNode(h.ctx, "n1"); err != nil || n.Status != api.NodeOnline {
		t.Fatalf("node after the restart: %+v %v", n, err)
	}
	b2, _ := os.ReadFile(h.logs[1])
	if !strings.Contains(string(b2), "lease_resumed") {
		t.Fatalf("the restarted agent did not log lease_resumed")
	}

	// Killed and kept down past its lease: the lease expires (the status
	// key goes), and the agent started afterwards takes a new lease.
	kill(a2)
	select {
	case <-h.wch:
	case <-time.After(h.ttl() + 15*time.Second):
		t.Fatal("the dead agent's status key was not deleted at its lease's expiry")
	}
	t2 := time.Now()
	h.start(agentProcess{})
	lease3, ok := h.published(t2, 30*time.Second)
	if !ok {
		t.Fatal("the agent started after the expiry published no status")
	}
	if lease3 == lease1 {
		t.Fatalf("the expired lease %x was revived", lease1)
	}
}

// TestAgentSlowRestartBridgesItsLease: a restarted agent whose start-up
// (before Run) takes longer than the lease's TTL keeps its previous
// process's lease through the lease bridge: the status key is never deleted
// and carries the same lease. The same slow start without the bridge loses
// the lease (the status key is deleted, a new lease is taken): the check
// fails without the bridge.
func TestAgentSlowRestartBridgesItsLease(t *testing.T) {
	h := newRestartHarness(t)
	slow := h.ttl() + 3*time.Second
	lease1 := h.firstKilled()
	t1 := time.Now()
	a2 := h.start(agentProcess{StartupDelay: slow})
	lease2, ok := h.published(t1, slow+30*time.Second)
	if !ok {
		t.Fatal("the slowly restarted agent published no status")
	}
	if lease2 != lease1 {
		t.Fatalf("the slowly restarted agent took a new lease %x, not its previous process's %x", lease2, lease1)
	}
	if h.deleted() {
		t.Fatal("the status key was deleted during the slow start-up (the lease expired)")
	}
	b2, _ := os.ReadFile(h.logs[1])
	for _, ev := range []string{"lease_bridge_started", "lease_bridge_stopped", "lease_resumed"} {
		if !strings.Contains(string(b2), ev) {
			t.Fatalf("the slowly restarted agent did not log %s", ev)
		}
	}

	// Without the bridge the same slow start loses the lease.
	kill(a2)
	t2 := time.Now()
	h.start(agentProcess{StartupDelay: slow, NoBridge: true})
	lease3, ok := h.published(t2, slow+30*time.Second)
	if !ok {
		t.Fatal("the agent without a bridge published no status")
	}
	if lease3 == lease1 {
		t.Fatalf("without the bridge the lease %x lived through a start-up of %s (TTL %s): the test cannot tell the bridge's effect", lease1, slow, h.ttl())
	}
	if !h.deleted() {
		t.Fatal("without the bridge the status key was not deleted, yet the lease changed")
	}
}
