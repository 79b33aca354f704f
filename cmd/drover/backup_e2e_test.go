package main

// cluster backup / restore: a local cluster backed up, destroyed and
// restored from its backup into a new directory shows the same nodes,
// instances and templates.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listing is a CLI listing, the same text whenever the state is the same.
func (lc *localCluster) listing(args ...string) string {
	lc.t.Helper()
	return lc.mustCLI(append(args, "--no-headers", "--separator", "|")...)
}

func TestClusterBackupRestore(t *testing.T) {
	lc := startLocal(t, 1, 2, "127.0.19")
	waitFor(t, 60*time.Second, "nodes online", func() bool {
		st := lc.nodeStatus()
		return st["node1"] == "online" && st["node2"] == "online"
	})
	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "backup")
	lc.mustCLI("template", "import", "tiny", tarball)
	lc.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node1", "db1")
	lc.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node2", "--no-start", "web1")
	lc.mustCLI("node", "modify", "--drained", "yes", "node2")
	nodes := lc.listing("node", "list", "-o", "name,uuid,pip,drained")
	insts := lc.listing("instance", "list", "-o", "name,uuid,pnode,os,os_version,admin_state")
	tmpls := lc.listing("template", "list", "-o", "name,version,digest")
	if !strings.Contains(insts, "db1|") || !strings.Contains(tmpls, "tiny|1|") || !strings.Contains(nodes, "|Y") {
		t.Fatalf("cluster before the backup:\n%s\n%s\n%s", nodes, insts, tmpls)
	}

	backup := filepath.Join(t.TempDir(), "cluster.tar.gz")
	t0 := time.Now()
	out := lc.mustCLI("cluster", "backup", backup)
	st, err := os.Stat(backup)
	if err != nil || !strings.Contains(out, "Backup written") {
		t.Fatalf("backup: %v %s", err, out)
	}
	t.Logf("cluster backup: %d bytes in %s", st.Size(), time.Since(t0).Round(time.Millisecond))
	// A reader-only token may not take one (it holds the CA key).
	if _, e, code := lc.cli([]string{"DROVER_TOKEN=not-a-token"}, "cluster", "backup", backup+".x"); code != exitAuth {
		t.Errorf("backup with a bad token: exit %d %s", code, e)
	}

	// Destroy the cluster: stop it and remove its directory.
	lc.down()
	if err := os.RemoveAll(lc.dir); err != nil {
		t.Fatal(err)
	}

	// Restore into a new directory; refuse a directory that holds one.
	dir := filepath.Join(t.TempDir(), "restored")
	out, e, code := lc.cli(nil, "cluster", "restore", backup, "--dir", dir)
	if code != 0 || !strings.Contains(out, "Restored cluster local") {
		t.Fatalf("restore: exit %d %s%s", code, out, e)
	}
	if _, e, code := lc.cli(nil, "cluster", "restore", backup, "--dir", dir); code != exitAlreadyExists {
		t.Errorf("restore over a cluster: exit %d %s", code, e)
	}
	damaged := filepath.Join(t.TempDir(), "damaged.tar.gz")
	b, _ := os.ReadFile(backup)
	os.WriteFile(damaged, b[:len(b)/2], 0o600)
	if _, e, code := lc.cli(nil, "cluster", "restore", damaged, "--dir", filepath.Join(t.TempDir(), "d")); code != exitUsage {
		t.Errorf("restore of a cut backup: exit %d %s", code, e)
	}

	lc2 := startLocalIn(t, dir, nil, 1, 2, "127.0.19")
	waitFor(t, 60*time.Second, "restored nodes online", func() bool {
		st := lc2.nodeStatus()
		return st["node1"] == "online" && st["node2"] == "online"
	})
	if got := lc2.listing("node", "list", "-o", "name,uuid,pip,drained"); got != nodes {
		t.Errorf("nodes after restore:\n%s\nbefore:\n%s", got, nodes)
	}
	if got := lc2.listing("instance", "list", "-o", "name,uuid,pnode,os,os_version,admin_state"); got != insts {
		t.Errorf("instances after restore:\n%s\nbefore:\n%s", got, insts)
	}
	if got := lc2.listing("template", "list", "-o", "name,version,digest"); got != tmpls {
		t.Errorf("templates after restore:\n%s\nbefore:\n%s", got, tmpls)
	}
	// The template's artifact came back too: an instance can be made from it.
	lc2.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node1", "db2")
	// The restored cluster's admin token is the old one (same signing key).
	if envToken(lc2.env) == "" || envToken(lc2.env) != envToken(lc.env) {
		t.Errorf("admin token changed by the restore")
	}
}

func envToken(env []string) string {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "DROVER_TOKEN="); ok {
			return v
		}
	}
	return ""
}
