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
}

// runAgentProcess runs the agent described by the file at path until the
// process is killed.
func runAgentProcess(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var p agentProcess
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	drv, err := workload.New(workload.Options{Dir: filepath.Join(p.Storage, "workload"), Command: []string{os.Args[0], "workload-run"}})
	if err != nil {
		return err
	}
	a, err := nodeagent.New(nodeagent.Config{Credentials: p.Credentials, Driver: drv, StorageDir: p.Storage}, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	return a.Run(context.Background())
}

// TestAgentKilledTakesOverItsLease: an agent killed with SIGKILL and started
// again within its lease takes that lease over: the node's status key is
// never deleted (the master never sees the node unreachable, so nothing can
// be fenced) and it carries the same lease. An agent that comes back after
// its lease expired does not revive it: it takes a new one.
func TestAgentKilledTakesOverItsLease(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{})
	m := c.Masters[0].M
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "n1"}))
	if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("node add: %+v", j)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cred, err := m.NodeCredentials(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if cred.LeaseTTL == 0 {
		cred.LeaseTTL = 5
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.json")
	b, _ := json.Marshal(agentProcess{Credentials: *cred, Storage: filepath.Join(dir, "storage")})
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cli := m.Client()
	statusKey := keys.NodeStatusKey("n1")
	// status returns the status key's lease and the agent's start time.
	status := func() (int64, time.Time) {
		r, err := cli.Get(ctx, statusKey)
		if err != nil || len(r.Kvs) == 0 {
			return 0, time.Time{}
		}
		var st keys.NodeStatus
		_ = json.Unmarshal(r.Kvs[0].Value, &st)
		return r.Kvs[0].Lease, st.StartedAt
	}
	var logs []string
	start := func() *exec.Cmd {
		t.Helper()
		lf := filepath.Join(dir, fmt.Sprintf("agent%d.log", len(logs)))
		logs = append(logs, lf)
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
	kill := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	defer func() {
		if t.Failed() {
			for _, lf := range logs {
				b, _ := os.ReadFile(lf)
				t.Logf("%s:\n%s", filepath.Base(lf), b)
			}
		}
	}()
	// published waits for a status written by an agent started after since.
	published := func(since time.Time, within time.Duration) (int64, bool) {
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if l, at := status(); l != 0 && at.After(since) {
				return l, true
			}
		}
		return 0, false
	}

	t0 := time.Now()
	a1 := start()
	lease1, ok := published(t0, 30*time.Second)
	if !ok {
		t.Fatal("the first agent published no status")
	}
	// Every delete of the status key from here on.
	rev := func() int64 {
		r, err := cli.Get(ctx, statusKey)
		if err != nil {
			t.Fatal(err)
		}
		return r.Header.Revision
	}()
	wch := cli.Watch(ctx, statusKey, clientv3.WithRev(rev+1), clientv3.WithFilterPut())

	kill(a1)
	t1 := time.Now()
	a2 := start()
	lease2, ok := published(t1, 30*time.Second)
	if !ok {
		t.Fatal("the restarted agent published no status")
	}
	if lease2 != lease1 {
		t.Fatalf("the restarted agent took a new lease %x, not its previous process's %x that still lived", lease2, lease1)
	}
	// The lease is renewed by the new process: alive well past the old
	// process's last renewal plus the TTL.
	time.Sleep(time.Duration(cred.LeaseTTL)*time.Second + time.Second)
	if l, _ := status(); l != lease1 {
		t.Fatalf("status lease after a TTL: %x, want %x (renewed by the new process)", l, lease1)
	}
	select {
	case wr := <-wch:
		t.Fatalf("the status key was deleted while the agent restarted: %+v", wr.Events)
	default:
	}
	if n, err := m.GetNode(ctx, "n1"); err != nil || n.Status != api.NodeOnline {
		t.Fatalf("node after the restart: %+v %v", n, err)
	}
	b2, _ := os.ReadFile(logs[1])
	if !strings.Contains(string(b2), "lease_resumed") {
		t.Fatalf("the restarted agent did not log lease_resumed")
	}

	// Killed and kept down past its lease: the lease expires (the status
	// key goes), and the agent started afterwards takes a new lease.
	kill(a2)
	select {
	case <-wch:
	case <-time.After(time.Duration(cred.LeaseTTL)*time.Second + 15*time.Second):
		t.Fatal("the dead agent's status key was not deleted at its lease's expiry")
	}
	t2 := time.Now()
	start()
	lease3, ok := published(t2, 30*time.Second)
	if !ok {
		t.Fatal("the agent started after the expiry published no status")
	}
	if lease3 == lease1 {
		t.Fatalf("the expired lease %x was revived", lease1)
	}
}
