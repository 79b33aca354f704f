package main

// `drover instance migrate` on `local up --hypervisor kvm`: a storage-copying
// live migration of a running QEMU/TCG guest between two nodes' private
// libvirtds, the guest counting on its console all along.

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
)

// writeBootTemplate writes a template tarball whose boot/ holds kernel and
// initrd (a direct-boot guest: the initramfs never mounts the disk).
func writeBootTemplate(t *testing.T, path, kernel, initrd string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	add := func(name string, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	add("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"))
	add("etc/os-release", []byte("ID=debian\nVERSION_CODENAME=bookworm\n"))
	add("bin/sh", []byte("#!fake shell\n"))
	for _, b := range []struct{ src, dst string }{{kernel, "boot/vmlinuz-6.1.0-99-amd64"}, {initrd, "boot/initrd.img-6.1.0-99-amd64"}} {
		body, err := os.ReadFile(b.src)
		if err != nil {
			t.Fatal(err)
		}
		add(b.dst, body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
}

var countRE = regexp.MustCompile(hvtest.GuestCount + ` (\d+) ([0-9.]+)`)

// lastCount is the last count line of a console text (0, 0 if none).
func lastCount(text string) (n int, uptime float64) {
	m := countRE.FindAllStringSubmatch(text, -1)
	if len(m) == 0 {
		return 0, 0
	}
	n, _ = strconv.Atoi(m[len(m)-1][1])
	uptime, _ = strconv.ParseFloat(m[len(m)-1][2], 64)
	return n, uptime
}

// migrateJob runs `instance migrate` with --output json and returns the job.
func (lc *localCluster) migrateJob(args ...string) api.Job {
	lc.t.Helper()
	out := lc.mustCLI(append([]string{"--output", "json", "instance", "migrate"}, args...)...)
	var j api.Job
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		lc.t.Fatalf("migrate output: %v: %s", err, out)
	}
	return j
}

// TestMigrateKVM: a running guest on node1 is live-migrated to node2 (its
// file disk copied), keeps counting (no reboot), and node1 keeps nothing of
// it; a migration libvirt aborts is reverted and --cleanup leaves it as it
// is. About 2-3 minutes here (TCG boot of the guest 15-40 s).
func TestMigrateKVM(t *testing.T) {
	needLibvirtd(t)
	hvtest.NeedBinaries(t, "qemu-system-x86_64")
	kernel, initrd := hvtest.Kernel(t), hvtest.CountingInitramfs(t)
	start := time.Now()
	lc := startLocal(t, 1, 2, "127.0.9", "--hypervisor", "kvm")
	waitFor(t, 90*time.Second, "both nodes online", func() bool {
		st := lc.nodeStatus()
		return st["node1"] == "online" && st["node2"] == "online"
	})
	tarball := filepath.Join(t.TempDir(), "counting.tar.gz")
	writeBootTemplate(t, tarball, kernel, initrd)
	lc.mustCLI("template", "import", "counting", tarball)
	lc.mustCLI("instance", "add", "-t", "file", "--disk", "64M", "-o", "counting", "-n", "node1", "-H", "kvm", "-B", "vcpus=1,memory=128M", "vm1")
	console := func() string { return lc.mustCLI("instance", "console", "vm1") }
	waitFor(t, 3*time.Minute, "vm1 counting on its console", func() bool { n, _ := lastCount(console()); return n >= 3 })
	n1, up1 := lastCount(console())
	t.Logf("vm1 counts on node1: %d, uptime %.1f s (%s after local up)", n1, up1, time.Since(start).Round(time.Second))

	j := lc.migrateJob("-n", "node2", "vm1")
	var res api.MigrateResult
	if err := json.Unmarshal(j.Result, &res); err != nil {
		t.Fatalf("migrate result: %v: %s", err, j.Result)
	}
	t.Logf("migration: total %d ms, downtime %d ms, %d bytes (memory %d, disk %d); %.1f s as the master saw it",
		res.TotalMs, res.DowntimeMs, res.DataBytes, res.MemoryBytes, res.DiskBytes, res.Seconds)
	if res.Source != "node1" || res.Target != "node2" || res.TotalMs <= 0 || res.DataBytes == 0 {
		t.Errorf("migrate result: %+v", res)
	}
	// The target's copy stays paused until the master resumes it (after
	// the source's answer): that wait adds to libvirt's downtime.
	out, resumed := lc.logTimes("node1", `msg=migrated_out`), lc.logTimes("node2", `msg=migrate_resumed`)
	if len(out) != 1 || len(resumed) != 1 || resumed[0].Before(out[0]) {
		t.Errorf("agent logs: migrated_out on node1 at %v, migrate_resumed on node2 at %v; want one each, in that order", out, resumed)
	} else {
		t.Logf("the target's copy resumed %d ms after the source's migrate call returned", resumed[0].Sub(out[0]).Milliseconds())
	}
	var log []string
	for _, l := range j.Log {
		log = append(log, l.Message)
	}
	if !strings.Contains(strings.Join(log, "\n"), "libvirt job info: total") {
		t.Errorf("job log without libvirt's job info:\n%s", strings.Join(log, "\n"))
	}
	if out := lc.mustCLI("instance", "list", "--no-headers", "-o", "pnode,status", "--separator", " ", "vm1"); strings.TrimSpace(out) != "node2 running" {
		t.Fatalf("after migrate: %q", out)
	}
	uris := lc.virshURIs()
	if d := virshDomains(t, uris["node1"]); len(d) != 0 {
		t.Errorf("node1's libvirtd still has %v", d)
	}
	if d := virshDomains(t, uris["node2"]); d["vm1"] != "running" {
		t.Errorf("node2's libvirtd: %v", d)
	}
	// The guest goes on counting on node2 (its console log there is its own):
	// higher counts and uptime, no second boot.
	waitFor(t, 60*time.Second, "vm1 counting on node2", func() bool { n, _ := lastCount(console()); return n > n1+2 })
	text := console()
	n2, up2 := lastCount(text)
	t.Logf("vm1 counts on node2: %d, uptime %.1f s", n2, up2)
	if up2 <= up1 || strings.Contains(text, hvtest.GuestMarker) {
		t.Errorf("vm1 rebooted or its uptime went back (node1: %d at %.1f s; node2: %d at %.1f s):\n%s", n1, up1, n2, up2, text)
	}
	gone := func(node string) bool {
		_, err := os.Stat(filepath.Join(lc.dir, "storage", node, "instances", "vm1"))
		return os.IsNotExist(err)
	}
	waitFor(t, 30*time.Second, "node1 keeps nothing of vm1", func() bool { return gone("node1") })

	// A migration that libvirt aborts (slowed down to 1 MiB/s so that it is
	// still under way): reverted, vm1 goes on running on node2, node1 keeps
	// nothing; --cleanup then finds one primary and changes nothing.
	id := strings.TrimSpace(lc.mustCLI("instance", "migrate", "--submit", "--bandwidth", "1", "-n", "node1", "vm1"))
	waitFor(t, 60*time.Second, "the migration under way on node2's libvirtd", func() bool {
		out, _ := exec.Command("virsh", "-c", uris["node2"], "domjobinfo", "vm1").CombinedOutput()
		return strings.Contains(string(out), "Unbounded")
	})
	if out, err := exec.Command("virsh", "-c", uris["node2"], "domjobabort", "vm1").CombinedOutput(); err != nil {
		t.Fatalf("domjobabort: %v: %s", err, out)
	}
	_, errOut, code := lc.cli(nil, "job", "watch", id)
	if code == 0 || !strings.Contains(errOut, "reverted") {
		t.Fatalf("aborted migration: exit %d: %s", code, errOut)
	}
	if out := lc.mustCLI("instance", "list", "--no-headers", "-o", "pnode,status", "--separator", " ", "vm1"); strings.TrimSpace(out) != "node2 running" {
		t.Fatalf("after the aborted migration: %q", out)
	}
	if d := virshDomains(t, uris["node1"]); len(d) != 0 {
		t.Errorf("node1's libvirtd after the aborted migration: %v", d)
	}
	waitFor(t, 30*time.Second, "node1 keeps nothing of the aborted migration", func() bool { return gone("node1") })
	cj := lc.migrateJob("--cleanup", "vm1")
	var cres api.MigrateResult
	if err := json.Unmarshal(cj.Result, &cres); err != nil || cj.State != api.JobSuccess || cres.Source != "node2" || cres.Target != "node2" {
		t.Fatalf("cleanup: %s %s (%v)", cj.State, cj.Result, err)
	}

	// Hibernate moves no disk contents: only for drbd (both nodes have them).
	if _, errOut, code := lc.cli(nil, "instance", "migrate", "--mode", "hibernate", "-n", "node1", "vm1"); code != exitUsage || !strings.Contains(errOut, "hibernate") {
		t.Errorf("hibernate of a file instance: exit %d: %s", code, errOut)
	}
	lc.mustCLI("instance", "remove", "-f", "vm1")
}
