package main

// cluster add-master / remove-master on a running local 3-master cluster:
// it grows to 4 etcd members and shrinks back, and keeps running jobs
// (quorum) at every step.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// members returns name -> "learner,started" of `cluster members`.
func (lc *localCluster) members() map[string]string {
	out, _, code := lc.cli(nil, "cluster", "members", "--no-headers", "-o", "name,learner,started", "--separator", " ")
	m := map[string]string{}
	if code != 0 {
		return m
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			m[f[0]] = f[1] + "," + f[2]
		}
	}
	return m
}

// jobWorks runs a short job: it succeeds only with an etcd quorum and a
// leader.
func (lc *localCluster) jobWorks(when string) {
	lc.t.Helper()
	if out, e, code := lc.cli(nil, "debug", "delay", "--duration", "200ms"); code != 0 {
		lc.t.Fatalf("%s: a job failed: exit %d %s%s", when, code, out, e)
	}
}

func TestClusterAddRemoveMaster(t *testing.T) {
	lc := startLocal(t, 3, 1, "127.0.22")
	waitFor(t, 90*time.Second, "node1 online", func() bool { return lc.nodeStatus()["node1"] == "online" })
	if got := lc.members(); len(got) != 3 || got["m1"] != "N,Y" {
		t.Fatalf("members of the 3-master cluster: %v", got)
	}
	lc.jobWorks("3 masters")

	// Wrong input is refused before anything changes.
	if _, e, code := lc.cli(nil, "cluster", "add-master", "--dir", lc.dir, "m2=127.0.221.9"); code != exitAlreadyExists {
		t.Errorf("add of an existing name: exit %d %s", code, e)
	}
	if _, e, code := lc.cli(nil, "cluster", "remove-master", "--dir", lc.dir, "-f", "m9"); code != exitNotFound {
		t.Errorf("remove of an unknown master: exit %d %s", code, e)
	}

	t0 := time.Now()
	out := lc.mustCLI("cluster", "add-master", "--dir", lc.dir, "m4=127.0.221.4")
	if !strings.Contains(out, "Master m4 added: 4 etcd members") {
		t.Fatalf("add-master: %s", out)
	}
	lc.jobWorks("4 members, m4 not started yet")
	logf, err := os.OpenFile(filepath.Join(lc.dir, "log", "m4.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	m4 := exec.Command(droverBin, "master", "--dir", lc.dir, "--name", "m4")
	m4.Stdout, m4.Stderr = logf, logf
	if err := m4.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- m4.Wait() }()
	t.Cleanup(func() {
		_ = m4.Process.Kill()
		<-exited
	})
	waitFor(t, 90*time.Second, "m4 a started voting member", func() bool { return lc.members()["m4"] == "N,Y" })
	t.Logf("add-master to m4 serving as the 4th member: %s", time.Since(t0).Round(time.Millisecond))
	lc.jobWorks("4 masters")
	// m4 answers the API itself: its member serves the cluster's data.
	m4env := []string{"DROVER_API=https://127.0.221.4:5080"}
	waitFor(t, 30*time.Second, "m4's API", func() bool {
		out, _, code := lc.cli(m4env, "node", "list", "--no-headers", "-o", "name")
		return code == 0 && strings.TrimSpace(out) == "node1"
	})

	// Shrink back: m4's member is removed, its process stops by itself.
	out = lc.mustCLI("cluster", "remove-master", "--dir", lc.dir, "-f", "m4")
	if !strings.Contains(out, "3 etcd members left") {
		t.Fatalf("remove-master: %s", out)
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatal("m4 still runs 60 s after its member was removed")
	}
	exited <- nil // for the cleanup
	if got := lc.members(); len(got) != 3 || got["m4"] != "" {
		t.Fatalf("members after remove-master: %v", got)
	}
	lc.jobWorks("3 masters again")
	if b, _ := os.ReadFile(filepath.Join(lc.dir, "cluster.json")); strings.Contains(string(b), `"m4"`) {
		t.Errorf("cluster.json still lists m4")
	}
	if _, err := os.Stat(filepath.Join(lc.dir, "data", "m4")); !os.IsNotExist(err) {
		t.Errorf("m4's etcd data left: %v", err)
	}
}
