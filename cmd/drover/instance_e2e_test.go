package main

// End to end: instances and templates on a local cluster of real processes
// (master with embedded etcd, two agents with the fake hypervisor), driven
// through the CLI as an operator would.

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/api"
)

// writeTinyRootfs writes a gzip tarball the template store accepts as a
// root filesystem; extra makes its digest differ.
func writeTinyRootfs(t *testing.T, path, extra string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, e := range []struct{ name, body string }{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
		{"etc/os-release", "ID=debian\nVERSION_CODENAME=bookworm\n"},
		{"etc/extra", extra},
		{"bin/sh", "#!fake shell\n"},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o755, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
}

// instances returns name -> status from `instance list`.
func (lc *localCluster) instances() map[string]string {
	out, _, code := lc.cli(nil, "instance", "list", "--no-headers", "-o", "name,status", "--separator", " ")
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

func TestLocalClusterInstances(t *testing.T) {
	lc := startLocal(t, 1, 2, "127.0.6")
	waitFor(t, 60*time.Second, "both nodes online", func() bool {
		st := lc.nodeStatus()
		return st["node1"] == "online" && st["node2"] == "online"
	})
	tmp := t.TempDir()
	tarball := filepath.Join(tmp, "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "one")
	out := lc.mustCLI("template", "import", "tiny", tarball)
	if !strings.Contains(out, "tiny@1") {
		t.Fatalf("import: %s", out)
	}
	if out := lc.mustCLI("template", "list", "--no-headers", "-o", "ref,tool", "--separator", " "); strings.TrimSpace(out) != "tiny@1 import" {
		t.Fatalf("template list: %q", out)
	}

	lc.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node1", "-B", "vcpus=1,memory=256M", "web1")
	lc.mustCLI("instance", "add", "-t", "file", "--disk", "64M", "-o", "tiny@1", "-n", "node2", "--net", "link=br0", "db1")
	if st := lc.instances(); st["web1"] != api.InstRunning || st["db1"] != api.InstRunning {
		t.Fatalf("after add: %v", st)
	}
	var db1 []api.Instance
	if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "instance", "info", "db1")), &db1); err != nil {
		t.Fatal(err)
	}
	if len(db1) != 1 || db1[0].PrimaryNode != "node2" || db1[0].DiskTemplate != "file" || len(db1[0].Disks) != 1 ||
		db1[0].Disks[0].SizeMiB != 64 || len(db1[0].NICs) != 1 || db1[0].NICs[0].MAC == "" || db1[0].OperState != "running" {
		t.Fatalf("db1: %+v", db1)
	}

	// Names are unique; bad input has stable exit codes.
	if _, _, code := lc.cli(nil, "instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node2", "web1"); code != exitAlreadyExists {
		t.Fatalf("duplicate add: exit %d", code)
	}
	if _, _, code := lc.cli(nil, "instance", "add", "-t", "diskless", "-o", "nope", "-n", "node1", "web9"); code != exitNotFound {
		t.Fatalf("unknown template: exit %d", code)
	}
	if _, _, code := lc.cli(nil, "instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node1", "-H", "kvm", "web9"); code != exitUsage {
		t.Fatalf("hypervisor mismatch: exit %d", code)
	}

	lc.mustCLI("instance", "shutdown", "--timeout", "10s", "web1")
	if st := lc.instances(); st["web1"] != api.InstAdminDown || st["db1"] != api.InstRunning {
		t.Fatalf("after shutdown: %v", st)
	}
	lc.mustCLI("instance", "startup", "web1")
	if st := lc.instances(); st["web1"] != api.InstRunning {
		t.Fatalf("after startup: %v", st)
	}
	lc.mustCLI("instance", "reboot", "web1")
	if out := lc.mustCLI("instance", "console", "web1"); !strings.Contains(out, "web1") {
		t.Fatalf("console: %q", out)
	}
	lc.mustCLI("instance", "grow-disk", "db1", "0", "16M")
	lc.mustCLI("instance", "modify", "-B", "memory=512M", "db1")
	lc.mustCLI("instance", "shutdown", "db1")
	lc.mustCLI("instance", "rename", "db1", "db2")
	out = lc.mustCLI("instance", "list", "--no-headers", "-o", "name,status,disk_sizes,memory", "--separator", " ", "db2")
	if strings.TrimSpace(out) != "db2 ADMIN_down 80M 512M" {
		t.Fatalf("db2: %q", out)
	}

	// A failed add leaves nothing behind: the template's blob is gone from
	// the master's store, so the agent's fetch fails and the add is undone.
	tarball2 := filepath.Join(tmp, "tiny2.tar.gz")
	writeTinyRootfs(t, tarball2, "two")
	lc.mustCLI("template", "import", "tiny2", tarball2)
	var t2 api.Template
	if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "template", "info", "tiny2")), &[]*api.Template{&t2}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(lc.dir, "templates", "m1", "blobs", "sha256", strings.TrimPrefix(t2.Digest, "sha256:"))); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := lc.cli(nil, "instance", "add", "-t", "file", "--disk", "64M", "-o", "tiny2", "-n", "node1", "bad1")
	if code == 0 || !strings.Contains(errOut, "undone") {
		t.Fatalf("add with a missing template blob: exit %d: %s", code, errOut)
	}
	if _, ok := lc.instances()["bad1"]; ok {
		t.Fatal("failed add listed")
	}

	// Without -n the allocator picks a node.
	lc.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "placed1")
	if out := lc.mustCLI("instance", "list", "--no-headers", "-o", "pnode,status", "--separator", " ", "placed1"); !strings.HasSuffix(strings.TrimSpace(out), " running") {
		t.Fatalf("placed1: %q", out)
	}
	lc.mustCLI("instance", "remove", "-f", "placed1")

	lc.mustCLI("instance", "remove", "-f", "web1")
	lc.mustCLI("instance", "remove", "-f", "db2")
	if st := lc.instances(); len(st) != 0 {
		t.Fatalf("after remove: %v", st)
	}
	lc.mustCLI("template", "remove", "-f", "tiny")
	if _, _, code := lc.cli(nil, "template", "info", "tiny"); code != exitNotFound {
		t.Fatalf("template info after remove: exit %d", code)
	}
}

// virshList returns domain -> state from `virsh list --all` on a node's
// private libvirtd of a `local up --hypervisor test` cluster.
func (lc *localCluster) virshList(t *testing.T, node string) map[string]string {
	t.Helper()
	uri := "test+unix:///default?socket=" + filepath.Join(lc.dir, "libvirt", node, "run", "libvirt-sock")
	out, err := exec.Command("virsh", "-c", uri, "list", "--all").CombinedOutput()
	if err != nil {
		t.Fatalf("virsh list: %v\n%s", err, out)
	}
	doms := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] != "Id" { // "Id Name State" header; "---" rule has one field
			doms[f[1]] = strings.Join(f[2:], " ")
		}
	}
	return doms
}

// TestLocalClusterInstancesLibvirtTest runs instances under libvirt's test
// driver, one private libvirtd per node, and checks what virsh sees; it also
// shows the watcher restarting a domain destroyed behind drover's back.
func TestLocalClusterInstancesLibvirtTest(t *testing.T) {
	realtest.NeedRoot(t, "local up --hypervisor test")
	realtest.NeedBinaries(t, "libvirtd", "virsh")
	lc := startLocal(t, 1, 2, "127.0.7", "--hypervisor", "test")
	waitFor(t, 90*time.Second, "both nodes online", func() bool {
		st := lc.nodeStatus()
		return st["node1"] == "online" && st["node2"] == "online"
	})
	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "libvirt")
	lc.mustCLI("template", "import", "tiny", tarball)
	lc.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node1", "web1")
	lc.mustCLI("instance", "add", "-t", "file", "--disk", "64M", "-o", "tiny", "-n", "node2", "db1")
	if st := lc.instances(); st["web1"] != api.InstRunning || st["db1"] != api.InstRunning {
		t.Fatalf("after add: %v", st)
	}
	if d := lc.virshList(t, "node1"); d["web1"] != "running" || d["db1"] != "" {
		t.Fatalf("virsh on node1: %v", d)
	}
	lc.mustCLI("instance", "shutdown", "web1")
	if st := lc.instances(); st["web1"] != api.InstAdminDown {
		t.Fatalf("after shutdown: %v", st)
	}
	if d := lc.virshList(t, "node1"); d["web1"] != "shut off" {
		t.Fatalf("virsh after shutdown: %v", d)
	}
	lc.mustCLI("instance", "startup", "web1")
	if d := lc.virshList(t, "node1"); d["web1"] != "running" {
		t.Fatalf("virsh after startup: %v", d)
	}

	// Destroyed behind drover's back: ERROR_down, then the watcher restarts it.
	uri2 := "test+unix:///default?socket=" + filepath.Join(lc.dir, "libvirt", "node2", "run", "libvirt-sock")
	if out, err := exec.Command("virsh", "-c", uri2, "destroy", "db1").CombinedOutput(); err != nil {
		t.Fatalf("virsh destroy: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "db1 ERROR_down", func() bool { return lc.instances()["db1"] == api.InstErrorDown })
	waitFor(t, 30*time.Second, "db1 restarted", func() bool { return lc.instances()["db1"] == api.InstRunning })
	out := lc.mustCLI("instance", "list", "--no-headers", "-o", "restarts", "db1")
	if strings.TrimSpace(out) != "1" {
		t.Fatalf("restarts: %q", out)
	}

	lc.mustCLI("instance", "remove", "-f", "web1")
	lc.mustCLI("instance", "remove", "-f", "db1")
	if d := lc.virshList(t, "node1"); d["web1"] != "" {
		t.Fatalf("virsh after remove: %v", d)
	}
	if st := lc.instances(); len(st) != 0 {
		t.Fatalf("after remove: %v", st)
	}
}
