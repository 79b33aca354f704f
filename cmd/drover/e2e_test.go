package main

// End-to-end tests with real processes: `drover local up` starts masters (each
// with an embedded etcd member) and agents as OS processes; the tests kill them
// with SIGKILL and watch the cluster through the CLI, as an operator would.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/api"
)

var droverBin string

func TestMain(m *testing.M) {
	droverBin = os.Getenv("DROVER_BIN")
	if droverBin == "" {
		dir, err := os.MkdirTemp("", "drover-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		droverBin = filepath.Join(dir, "drover")
		out, err := exec.Command("go", "build", "-o", droverBin, ".").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build drover: %v\n%s", err, out)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// localCluster is a `drover local up` running in the background.
type localCluster struct {
	t   *testing.T
	dir string
	up  *exec.Cmd
	log *syncBuffer
	env []string
	// exited, when set, is closed once up has exited (its Wait runs elsewhere).
	exited chan struct{}
	// stopped: down ran already (a test may stop a cluster before its end).
	stopped bool
}

func startLocal(t *testing.T, masters, nodes int, net string, extra ...string) *localCluster {
	t.Helper()
	return startLocalWrapped(t, nil, masters, nodes, net, extra...)
}

// startLocalWrapped runs local up as the last argument of wrap (e.g.
// unshare ... exec "$@"), so that it and every process it starts live in
// what wrap sets up.
func startLocalWrapped(t *testing.T, wrap []string, masters, nodes int, net string, extra ...string) *localCluster {
	t.Helper()
	return startLocalIn(t, t.TempDir(), wrap, masters, nodes, net, extra...)
}

// startLocalIn runs local up in dir (which may hold a cluster already).
func startLocalIn(t *testing.T, dir string, wrap []string, masters, nodes int, net string, extra ...string) *localCluster {
	t.Helper()
	args := append([]string{"local", "up", "--dir", dir, "--masters", strconv.Itoa(masters), "--nodes", strconv.Itoa(nodes),
		"--master-net", net + "1", "--node-net", net + "2"}, extra...)
	argv := append(append(append([]string(nil), wrap...), droverBin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lc := &localCluster{t: t, dir: dir, up: cmd, log: buf}
	t.Cleanup(lc.down)
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "drover.env"))
		if err == nil {
			lc.env = parseEnvFile(b)
			return lc
		}
		if time.Now().After(deadline) {
			t.Fatalf("local up did not write drover.env in 90 s; its output:\n%s\n%s", buf.String(), lc.logs())
		}
		if cmd.ProcessState != nil {
			t.Fatalf("local up exited: %s", buf.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer that the test may read while the child process
// writes to it (exec copies the child's output from another goroutine).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func parseEnvFile(b []byte) []string {
	var env []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export "); ok {
			env = append(env, l)
		}
	}
	return env
}

func (lc *localCluster) logs() string {
	var sb strings.Builder
	files, _ := filepath.Glob(filepath.Join(lc.dir, "log", "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		fmt.Fprintf(&sb, "==== %s\n%s\n", filepath.Base(f), b)
	}
	return sb.String()
}

func (lc *localCluster) down() {
	if lc.stopped {
		return
	}
	lc.stopped = true
	out, err := exec.Command(droverBin, "local", "down", "--dir", lc.dir).CombinedOutput()
	if err != nil {
		lc.t.Errorf("local down: %v\n%s", err, out)
	}
	done := lc.exited
	if done == nil {
		done = make(chan struct{})
		go func() { _ = lc.up.Wait(); close(done) }()
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = lc.up.Process.Kill()
		lc.t.Errorf("local up did not exit after local down")
	}
	if lc.t.Failed() {
		lc.t.Logf("local up output:\n%s\n%s", lc.log.String(), lc.logs())
	}
}

// cli runs the drover CLI against the local cluster.
func (lc *localCluster) cli(env []string, args ...string) (string, string, int) {
	cmd := exec.Command(droverBin, args...)
	cmd.Env = append(append(os.Environ(), lc.env...), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		lc.t.Fatalf("run drover %v: %v", args, err)
	}
	return so.String(), se.String(), code
}

func (lc *localCluster) mustCLI(args ...string) string {
	lc.t.Helper()
	out, errOut, code := lc.cli(nil, args...)
	if code != 0 {
		lc.t.Fatalf("drover %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (lc *localCluster) pid(name string) int {
	lc.t.Helper()
	pid, err := readPid(filepath.Join(lc.dir, "run", name+".pid"))
	if err != nil {
		lc.t.Fatal(err)
	}
	return pid
}

// nodeStatus returns name -> status from `node list`.
func (lc *localCluster) nodeStatus() map[string]string {
	out, _, code := lc.cli(nil, "node", "list", "--no-headers", "-o", "name,status", "--separator", " ")
	st := map[string]string{}
	if code != 0 {
		return st
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			st[f[0]] = f[1]
		}
	}
	return st
}

// nodeDown reports whether a node status is one of a node that lost its
// lease (unreachable, then suspect, fencing, fenced, offline: docs/ha.md).
func nodeDown(status string) bool {
	switch status {
	case "unreachable", "suspect", "fencing", "fenced", "offline":
		return true
	}
	return false
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The condition may have turned true during a slow check: count that too.
	if d := time.Since(start); d > limit {
		t.Fatalf("%s: observed after %s, limit %s", what, d, limit)
	}
	return time.Since(start)
}

func (lc *localCluster) clusterInfo() (*api.ClusterInfo, bool) {
	out, _, code := lc.cli(nil, "--output", "json", "cluster", "info")
	if code != 0 {
		return nil, false
	}
	var ci api.ClusterInfo
	if json.Unmarshal([]byte(out), &ci) != nil {
		return nil, false
	}
	return &ci, true
}

func TestLocalClusterThreeMastersKill(t *testing.T) {
	realtest.Short(t, "end-to-end: starts 3 masters and 3 agents")
	start := time.Now()
	lc := startLocal(t, 3, 3, "127.0.4")

	// Three nodes online within 30 s of `local up`.
	waitFor(t, 30*time.Second-time.Since(start), "3 nodes online", func() bool {
		st := lc.nodeStatus()
		return len(st) == 3 && st["node1"] == "online" && st["node2"] == "online" && st["node3"] == "online"
	})
	t.Logf("3 nodes online %.1fs after local up", time.Since(start).Seconds())

	ci, ok := lc.clusterInfo()
	if !ok || ci.Leader == "" {
		t.Fatalf("cluster info: no leader: %+v", ci)
	}
	oldLeader, oldEpoch := ci.Leader, ci.Epoch

	// A debug delay job is running when the leader dies.
	out := lc.mustCLI("debug", "delay", "--duration", "8s", "--submit")
	jobID := strings.TrimSpace(out)
	waitFor(t, 10*time.Second, "job running", func() bool {
		o, _, c := lc.cli(nil, "--output", "json", "job", "info", jobID)
		var j api.Job
		return c == 0 && json.Unmarshal([]byte(o), &j) == nil && j.State == api.JobRunning && j.OpStatus[0].StepsDone >= 1
	})
	if err := syscall.Kill(lc.pid(oldLeader), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var newLeader string
	waitFor(t, 5*time.Second, "new leader after kill -9 of "+oldLeader, func() bool {
		ci, ok := lc.clusterInfo()
		if ok && ci.Leader != "" && ci.Leader != oldLeader {
			newLeader = ci.Leader
			if ci.Epoch <= oldEpoch {
				t.Errorf("epoch did not grow: %d -> %d", oldEpoch, ci.Epoch)
			}
			return true
		}
		return false
	})
	t.Logf("leader %s -> %s in %.2fs", oldLeader, newLeader, time.Since(killed).Seconds())

	// The job ends in success, once: every step logged exactly once.
	o, e, code := lc.cli(nil, "job", "watch", jobID)
	if code != 0 {
		t.Fatalf("job watch %s: exit %d\n%s%s", jobID, code, o, e)
	}
	var j api.Job
	if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "job", "info", jobID)), &j); err != nil {
		t.Fatal(err)
	}
	if j.State != api.JobSuccess {
		t.Fatalf("job %s state %s", jobID, j.State)
	}
	if j.Runs < 2 {
		t.Errorf("job runs = %d, want >= 2 (resumed by the new leader)", j.Runs)
	}
	steps := map[string]int{}
	for _, l := range j.Log {
		if strings.HasPrefix(l.Message, "step ") && strings.HasSuffix(l.Message, " done") {
			steps[l.Message]++
		}
	}
	if len(steps) != j.OpStatus[0].StepsDone || len(steps) == 0 {
		t.Errorf("steps logged %v, steps done %d", steps, j.OpStatus[0].StepsDone)
	}
	for s, n := range steps {
		if n != 1 {
			t.Errorf("%q logged %d times", s, n)
		}
	}

	// kill -9 of an agent: unreachable within TTL (5 s) + 5 s, online after restart.
	if err := syscall.Kill(lc.pid("node2"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d := waitFor(t, 10*time.Second, "node2 unreachable", func() bool { return nodeDown(lc.nodeStatus()["node2"]) })
	t.Logf("node2 unreachable %.2fs after kill -9", d.Seconds())
	lc.mustCLI("local", "start", "--dir", lc.dir, "node2")
	d = waitFor(t, 15*time.Second, "node2 online again", func() bool { return lc.nodeStatus()["node2"] == "online" })
	t.Logf("node2 online %.2fs after restart", d.Seconds())
}

func TestLocalClusterAuthAndCLI(t *testing.T) {
	realtest.Short(t, "end-to-end: starts a master and an agent")
	lc := startLocal(t, 1, 1, "127.0.5")
	waitFor(t, 30*time.Second, "node1 online", func() bool { return lc.nodeStatus()["node1"] == "online" })

	// No token: 401 -> exit code 3.
	if _, e, code := lc.cli([]string{"DROVER_TOKEN="}, "node", "list"); code != exitAuth {
		t.Errorf("node list without token: exit %d, want %d (%s)", code, exitAuth, e)
	}
	// A read token may list but not change: 403 -> exit code 3.
	lc.mustCLI("user", "add", "--role", "read", "viewer")
	tok := strings.TrimSpace(lc.mustCLI("user", "token", "--ttl", "1h", "viewer"))
	ro := []string{"DROVER_TOKEN=" + tok}
	if o, e, code := lc.cli(ro, "node", "list", "--no-headers", "-o", "name"); code != 0 || strings.TrimSpace(o) != "node1" {
		t.Errorf("node list with read token: exit %d: %s%s", code, o, e)
	}
	if _, e, code := lc.cli(ro, "debug", "delay", "--duration", "1s"); code != exitAuth || !strings.Contains(e, "forbidden") {
		t.Errorf("debug delay with read token: exit %d, want %d: %s", code, exitAuth, e)
	}
	// Bad input: invalid node name is refused before anything is sent.
	if _, _, code := lc.cli(nil, "node", "add", "Not_A_Host"); code != exitUsage {
		t.Errorf("node add with a bad name: exit %d, want %d", code, exitUsage)
	}
	// Unknown node: exit code 4.
	if _, _, code := lc.cli(nil, "node", "info", "nosuchnode"); code != exitNotFound {
		t.Errorf("node info unknown: exit %d, want %d", code, exitNotFound)
	}
	// Drain, then offline: status follows.
	lc.mustCLI("node", "modify", "--drained", "yes", "node1")
	if o := lc.mustCLI("node", "list", "--no-headers", "-o", "drained"); strings.TrimSpace(o) != "Y" {
		t.Errorf("drained = %q", o)
	}
	lc.mustCLI("node", "modify", "--offline", "yes", "node1")
	if st := lc.nodeStatus()["node1"]; st != "offline" {
		t.Errorf("status after --offline yes: %q", st)
	}
	// A failing job exits with its error code (wrong_state -> 7).
	if _, _, code := lc.cli(nil, "debug", "delay", "--duration", "1s", "--fail"); code != exitWrongState {
		t.Errorf("failing delay: exit %d, want %d", code, exitWrongState)
	}
	// Revoked tokens stop working.
	var toks []api.Token
	if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "user", "token", "--list", "viewer")), &toks); err != nil || len(toks) != 1 {
		t.Fatalf("token list: %v %v", toks, err)
	}
	lc.mustCLI("user", "token", "--revoke", toks[0].ID)
	if _, _, code := lc.cli(ro, "node", "list"); code != exitAuth {
		t.Errorf("revoked token: exit %d, want %d", code, exitAuth)
	}
	// JSON output of lists is valid JSON with the nodes.
	var nodes []api.Node
	if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "node", "list")), &nodes); err != nil || len(nodes) != 1 {
		t.Errorf("node list json: %v %v", nodes, err)
	}
}
