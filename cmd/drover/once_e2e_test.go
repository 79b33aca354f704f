package main

// End to end, real processes: a failed add whose agent was killed (kill -9)
// in the middle of the create leaves nothing that a later add of the same
// name would adopt (issue 7).

import (
	"archive/tar"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/api"
)

// writeBigRootfs writes a plain tarball that the store accepts as a root
// filesystem, padded with size bytes of random data (so that fetching it
// takes a while: the create is still running when the agent is killed).
func writeBigRootfs(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range []struct{ name, body string }{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
		{"etc/os-release", "ID=debian\nVERSION_CODENAME=bookworm\n"},
		{"bin/sh", "#!fake shell\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o755, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "var/padding", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	rnd := rand.NewChaCha8([32]byte{7})
	if _, err := io.CopyN(tw, rnd, size); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// instanceJSON is `instance info NAME --output json`.
func (lc *localCluster) instanceJSON(name string) api.Instance {
	lc.t.Helper()
	var in []api.Instance
	if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "instance", "info", name)), &in); err != nil || len(in) != 1 {
		lc.t.Fatalf("instance info %s: %v", name, err)
	}
	return in[0]
}

func TestAgentKilledDuringAddLeavesNoOrphan(t *testing.T) {
	realtest.Short(t, "end-to-end: starts a master and an agent")
	lc := startLocal(t, 1, 1, "127.0.14")
	waitFor(t, 60*time.Second, "node1 online", func() bool { return lc.nodeStatus()["node1"] == "online" })
	tmp := t.TempDir()
	big, tiny := filepath.Join(tmp, "big.tar"), filepath.Join(tmp, "tiny.tar.gz")
	writeBigRootfs(t, big, 256<<20)
	writeTinyRootfs(t, tiny, "small")
	lc.mustCLI("template", "import", "big", big)
	lc.mustCLI("template", "import", "tiny", tiny)

	storage := filepath.Join(lc.dir, "storage", "node1")
	journal := filepath.Join(storage, "commands")
	id := strings.TrimSpace(lc.mustCLI("instance", "add", "--submit", "-t", "file", "--disk", "512M", "-o", "big", "-n", "node1", "slow3"))
	// The agent records a command as started before it runs it; kill -9 as
	// soon as the create of slow3 has started.
	var started string
	waitFor(t, 60*time.Second, "the create of slow3 started on node1", func() bool {
		m, _ := filepath.Glob(filepath.Join(journal, "*.started"))
		if len(m) > 0 {
			started = m[0]
		}
		return len(m) > 0
	})
	if err := syscall.Kill(lc.pid("node1"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(strings.TrimSuffix(started, ".started") + ".json"); err == nil {
		t.Fatal("the create finished before the kill: the template is too small to test this")
	}
	if _, err := os.Stat(filepath.Join(storage, "instances", "slow3")); err != nil {
		t.Fatalf("the killed create left no files to undo: %v", err)
	}
	// The job ends in error once the node's lease expires; the record goes.
	if _, _, code := lc.cli(nil, "job", "watch", id); code == 0 {
		t.Fatalf("job %s succeeded without its agent", id)
	}
	var j api.Job
	if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "job", "info", id)), &j); err != nil {
		t.Fatal(err)
	}
	if j.State != api.JobError || !strings.Contains(j.Error.Message, "record deleted") {
		t.Fatalf("job %s: %s %+v", id, j.State, j.Error)
	}
	if _, _, code := lc.cli(nil, "instance", "info", "slow3"); code != exitNotFound {
		t.Fatalf("instance info slow3 after the failed add: exit %d", code)
	}

	// The agent comes back: it does not run the create again, and undoes
	// what the killed one had made.
	lc.mustCLI("local", "start", "--dir", lc.dir, "node1")
	waitFor(t, 30*time.Second, "node1 online again", func() bool { return lc.nodeStatus()["node1"] == "online" })
	waitFor(t, 30*time.Second, "slow3's files removed from node1", func() bool {
		_, err := os.Stat(filepath.Join(storage, "instances", "slow3"))
		return os.IsNotExist(err)
	})
	waitFor(t, 30*time.Second, "the agent's journal emptied", func() bool {
		m, _ := filepath.Glob(filepath.Join(journal, "*.started"))
		return len(m) == 0
	})

	// A new slow3 from another template gets its own, new disk.
	lc.mustCLI("instance", "add", "-t", "file", "--disk", "64M", "-o", "tiny", "-n", "node1", "slow3")
	in := lc.instanceJSON("slow3")
	if in.Status != api.InstRunning || in.OS != "tiny" {
		t.Fatalf("new slow3: %+v", in)
	}
	st, err := os.Stat(filepath.Join(storage, "instances", "slow3", "disk0.img"))
	if err != nil || st.Size() != 64<<20 {
		t.Fatalf("disk of the new slow3: %v %v", st, err)
	}
	var owner struct{ UUID string }
	b, err := os.ReadFile(filepath.Join(storage, "instances", "slow3", "drover-instance.json"))
	if err != nil || json.Unmarshal(b, &owner) != nil || owner.UUID != in.UUID {
		t.Fatalf("files of slow3 belong to %q, the record is %q (%v)", owner.UUID, in.UUID, err)
	}
	waitFor(t, 30*time.Second, "cluster verify clean", func() bool {
		_, _, code := lc.cli(nil, "cluster", "verify")
		return code == 0
	})
}
