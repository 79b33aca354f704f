package main

import (
	"archive/tar"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/nodeagent/procfs"
)

// writeBusyboxRootfs writes a template whose init is a static busybox, so
// that an LXC container keeps running (a QEMU guest runs without it too).
func writeBusyboxRootfs(t *testing.T, path string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		realtest.Need(t, "busybox not installed")
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, e := range []struct{ name, body string }{
		{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
		{"bin/sh", string(bin)},
		{"sbin/init", string(bin)},
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

// TestLocalDownStopsGuests: after `local down` no QEMU guest or LXC
// container (controller and its processes) of the cluster remains. libvirt
// starts them daemonized in mount namespaces of their own, which the
// daemon's sweep did not reach. About 15 s per hypervisor.
func TestLocalDownStopsGuests(t *testing.T) {
	needLibvirtd(t)
	for i, hv := range []string{"kvm", "lxc"} {
		t.Run(hv, func(t *testing.T) {
			if hv == "kvm" {
				realtest.NeedBinaries(t, "qemu-system-x86_64")
			}
			tarball := filepath.Join(t.TempDir(), "bb.tar.gz")
			writeBusyboxRootfs(t, tarball)
			lc := startLocal(t, 1, 1, []string{"127.0.16", "127.0.17"}[i], "--hypervisor", hv)
			waitFor(t, 60*time.Second, "node1 online", func() bool { return lc.nodeStatus()["node1"] == "online" })
			lc.mustCLI("template", "import", "bb", tarball)
			lc.mustCLI("instance", "add", "-t", "file", "--disk", "64M", "-o", "bb", "-n", "node1", "-H", hv, "g1")
			guests := daemonGuestPIDs(nodeDaemonDir(lc.dir, 1))
			if len(guests) != 1 {
				t.Fatalf("libvirt's pid files name %v, want one guest", guests)
			}
			checkAgentPidDirs(t, lc.dir, "node1", guests[0])
			all := procfs.WithDescendants(guests)
			t.Logf("guest processes: %v (%s)", all, procExe(guests[0]))
			out, err := exec.Command(droverBin, "local", "down", "--dir", lc.dir).CombinedOutput()
			if err != nil {
				t.Fatalf("local down: %v: %s", err, out)
			}
			for _, p := range all {
				if processAlive(p) {
					t.Errorf("process %d (%s) of the cluster still runs after local down", p, procExe(p))
				}
			}
			if left := storageGuestPIDs(lc.dir); len(left) > 0 {
				t.Errorf("processes using the cluster's storage after local down: %v", left)
			}
		})
	}
}

// checkAgentPidDirs: the agent of node was started with a --guest-pid-dir
// that holds the pid file of guest, so that its self-fencing finds the guest
// when the node's private libvirtd hangs (before: none was passed, and the
// agent looked in the host's /run/libvirt).
func checkAgentPidDirs(t *testing.T, dir, node string, guest int) {
	t.Helper()
	spec, err := localDir(dir).loadSpec(node)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i, a := range spec.Args {
		if a == "--guest-pid-dir" && i+1 < len(spec.Args) {
			dirs = append(dirs, spec.Args[i+1])
		}
	}
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(d, "*.pid"))
		for _, f := range files {
			if pid, err := readPid(f); err == nil && pid == guest {
				return
			}
		}
	}
	t.Fatalf("agent %s was started with --guest-pid-dir %v; none holds the pid file of guest %d", node, dirs, guest)
}
