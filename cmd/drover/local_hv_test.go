package main

// `drover local up --hypervisor test`: one private libvirtd per node, and
// virsh on a node's socket agrees with drover's instance list.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/api"
)

func needLibvirtd(t *testing.T) {
	t.Helper()
	realtest.NeedRoot(t, "private libvirtd per node")
	realtest.NeedBinaries(t, "libvirtd", "virtlogd", "virsh", "mkfs.ext4")
}

// virshURIs reads the nodes' libvirt URIs that local up notes in drover.env.
func (lc *localCluster) virshURIs() map[string]string {
	b, err := os.ReadFile(filepath.Join(lc.dir, "drover.env"))
	if err != nil {
		lc.t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^# (node\d+): virsh -c '([^']+)'$`)
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// virshDomains returns name -> state ("running", "shut off") of a node's
// libvirtd, without libvirt's built-in "test" domain.
func virshDomains(t *testing.T, uri string) map[string]string {
	t.Helper()
	doms, err := virshDomainsErr(uri)
	if err != nil {
		t.Fatal(err)
	}
	return doms
}

// virshDomainsErr is virshDomains for callers that poll.
func virshDomainsErr(uri string) (map[string]string, error) {
	out, err := exec.Command("virsh", "-c", uri, "list", "--all").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("virsh list: %w: %s", err, out)
	}
	doms := map[string]string{}
	for _, l := range strings.Split(string(out), "\n")[2:] {
		f := strings.Fields(l)
		if len(f) < 3 || f[1] == "test" {
			continue
		}
		doms[f[1]] = strings.Join(f[2:], " ")
	}
	return doms, nil
}

// agree checks that virsh on node's libvirtd shows exactly drover's
// instances of that node, in matching states.
func (lc *localCluster) agree(node, uri string) {
	lc.t.Helper()
	out := lc.mustCLI("instance", "list", "--no-headers", "-o", "name,pnode,status", "--separator", " ")
	want := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[1] != node {
			continue
		}
		switch f[2] {
		case api.InstRunning:
			want[f[0]] = "running"
		case api.InstAdminDown:
			want[f[0]] = "shut off"
		default:
			want[f[0]] = f[2]
		}
	}
	got := virshDomains(lc.t, uri)
	if len(got) != len(want) {
		lc.t.Fatalf("node %s: virsh shows %v, drover lists %v", node, got, want)
	}
	for n, s := range want {
		if got[n] != s {
			lc.t.Fatalf("node %s: virsh shows %v, drover lists %v", node, got, want)
		}
	}
}

func TestLocalUpTestHypervisor(t *testing.T) {
	needLibvirtd(t)
	start := time.Now()
	lc := startLocal(t, 1, 2, "127.0.7", "--hypervisor", "test")
	waitFor(t, 60*time.Second, "both nodes online", func() bool {
		st := lc.nodeStatus()
		return st["node1"] == "online" && st["node2"] == "online"
	})
	t.Logf("local up with two libvirtds: %s", time.Since(start).Round(time.Millisecond))
	uris := lc.virshURIs()
	if len(uris) != 2 || !strings.HasPrefix(uris["node1"], "test+unix:///default?socket=") || uris["node1"] == uris["node2"] {
		t.Fatalf("libvirt URIs in drover.env: %v", uris)
	}
	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "virsh")
	lc.mustCLI("template", "import", "tiny", tarball)

	lc.mustCLI("instance", "add", "-t", "file", "--disk", "64M", "-o", "tiny", "-n", "node1", "-H", "test", "-B", "vcpus=1,memory=256M", "web1")
	lc.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "-n", "node2", "-H", "test", "-B", "vcpus=1,memory=128M", "db1")
	lc.agree("node1", uris["node1"])
	lc.agree("node2", uris["node2"])
	if d := virshDomains(t, uris["node1"]); d["db1"] != "" {
		t.Fatalf("node1's libvirtd sees node2's domain: %v", d)
	}
	lc.mustCLI("instance", "shutdown", "web1")
	lc.agree("node1", uris["node1"])
	lc.mustCLI("instance", "startup", "web1")
	lc.agree("node1", uris["node1"])
	lc.mustCLI("instance", "remove", "-f", "web1")
	lc.agree("node1", uris["node1"])
	if d := virshDomains(t, uris["node1"]); len(d) != 0 {
		t.Fatalf("after remove, node1's libvirtd still has %v", d)
	}
	if ents, _ := os.ReadDir(filepath.Join(lc.dir, "storage", "node1", "instances")); len(ents) != 0 {
		t.Fatalf("files left on node1 after remove: %v", ents)
	}
}

// TestLocalUpHypervisorNeedsRoot: without root, local up --hypervisor kvm
// says what is missing and exits with the wrong_state code; xen is refused
// as a usage error.
func TestLocalUpHypervisorNeedsRoot(t *testing.T) {
	realtest.NeedRoot(t, "runs the CLI as nobody through setpriv")
	realtest.NeedBinaries(t, "setpriv")
	dir, err := os.MkdirTemp("", "drover-noroot")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// The test binary's drover may live in a root-only temp dir: copy it.
	bin := filepath.Join(dir, "drover")
	b, err := os.ReadFile(droverBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	out, code := run("local", "up", "--dir", filepath.Join(dir, "c"), "--hypervisor", "kvm")
	if code != exitWrongState || !strings.Contains(out, "needs root") {
		t.Fatalf("local up --hypervisor kvm as nobody: exit %d: %s", code, out)
	}
	out, code = run("local", "up", "--dir", filepath.Join(dir, "c"), "--hypervisor", "xen")
	if code != exitUsage || !strings.Contains(out, "xen") {
		t.Fatalf("local up --hypervisor xen: exit %d: %s", code, out)
	}
}
