package vmnode

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-project/drover/realtest"
)

// fakeDmsetup is a stand-in for dmsetup (named a fake: the real one needs
// device-mapper in the kernel, which the host lacks): it logs its
// arguments, knows the targets in $TARGETS, says the device exists once
// created, and fails reload when $FAIL_RELOAD is set.
const fakeDmsetup = `#!/bin/sh
echo "$*" >> "$LOG"
case "$1" in
targets) for t in $TARGETS; do echo "$t v1.0.0"; done;;
info) [ -e "$STATE" ] && { [ "$2" != -c ] || echo " 253:0"; };;
create) touch "$STATE";;
mknodes) [ -z "$NO_MKNODES" ] && mkdir -p "$DEV/mapper" && touch "$DEV/mapper/$2";;
reload) [ -z "$FAIL_RELOAD" ] || { echo "device-mapper: reload ioctl failed: Invalid argument" >&2; exit 1; };;
esac
`

// runDiskScript runs /bin/drover-disk mode under busybox sh with the fake
// dmsetup; its exit code, output and the dmsetup calls.
func runDiskScript(t *testing.T, dir, mode string, env ...string) (int, string, []string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		realtest.Need(t, "busybox not installed")
	}
	log := filepath.Join(dir, "calls")
	os.Remove(log)
	cmd := exec.Command(bb, "sh", filepath.Join(dir, "drover-disk"), mode)
	cmd.Env = append([]string{"PATH=" + filepath.Join(dir, "bin") + ":/usr/bin:/bin", "SYSFS=" + filepath.Join(dir, "sys"),
		"DEV=" + filepath.Join(dir, "dev"), "LOG=" + log, "STATE=" + filepath.Join(dir, "created"), "TARGETS=linear delay flakey"}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	return code, strings.TrimSpace(string(out)), strings.Split(strings.TrimSpace(string(b)), "\n")
}

// The guest's table switch: create makes the device, later calls
// suspend, reload with DiskTable's table and resume; a failed reload still
// resumes (the old table stays); a mode whose target the kernel lacks is
// refused before anything changes.
func TestDiskScriptSwitchesTables(t *testing.T) {
	dir := t.TempDir()
	for p, body := range map[string]string{"drover-disk": diskScript, "bin/dmsetup": fakeDmsetup, "sys/block/vda/size": "131072\n"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	table := func(mode string) string {
		tb, err := DiskTable(mode, 131072, NodeDiskLower)
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	if code, out, _ := runDiskScript(t, dir, "slow"); code != 4 || !strings.Contains(out, "no node disk device") {
		t.Errorf("slow before create: exit %d %q, want 4 and no node disk device", code, out)
	}
	code, out, calls := runDiskScript(t, dir, "create")
	if want := "create --noudevsync " + NodeDiskName + " --table " + table("linear"); code != 0 || len(calls) < 3 || calls[2] != want {
		t.Fatalf("create: exit %d %q, calls %q, want the third %q", code, out, calls, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "dev", "mapper", NodeDiskName)); err != nil {
		t.Errorf("no device node after create: %v", err)
	}
	for _, mode := range []string{"slow", "fail", "linear"} {
		code, out, calls := runDiskScript(t, dir, mode)
		want := []string{"targets", "info " + NodeDiskName, "suspend --noudevsync " + NodeDiskName,
			"reload " + NodeDiskName + " --table " + table(mode), "resume --noudevsync " + NodeDiskName}
		if code != 0 || strings.Join(calls, "|") != strings.Join(want, "|") {
			t.Errorf("%s: exit %d %q\n calls %q\n want  %q", mode, code, out, calls, want)
		}
	}
	if tb := table("slow"); !strings.Contains(tb, " delay /dev/vda 0 500") {
		t.Errorf("slow table %q: want dm-delay of 500 ms", tb)
	}
	if tb := table("fail"); !strings.Contains(tb, " flakey /dev/vda 0 0 86400") {
		t.Errorf("fail table %q: want dm-flakey down all the time", tb)
	}
	// A dmsetup that makes no node (mknodes fails): the node is made from
	// the device's major:minor (mknod: only as root; else a clear error).
	os.Remove(filepath.Join(dir, "created"))
	node := filepath.Join(dir, "dev", "mapper", NodeDiskName)
	os.Remove(node)
	code, out, calls = runDiskScript(t, dir, "create", "NO_MKNODES=1")
	if calls[len(calls)-1] != "info -c --noheadings -o major,minor "+NodeDiskName {
		t.Errorf("create without mknodes: calls %q, want the major:minor asked last", calls)
	}
	if st, err := os.Stat(node); os.Geteuid() == 0 && (code != 0 || err != nil || st.Mode()&os.ModeDevice == 0) {
		t.Errorf("create without mknodes as root: exit %d %q, node %v %v", code, out, st, err)
	} else if os.Geteuid() != 0 && (code != 1 || !strings.Contains(out, "no "+node)) {
		t.Errorf("create without mknodes, not root: exit %d %q, want 1 and the missing node", code, out)
	}
	code, out, calls = runDiskScript(t, dir, "fail", "FAIL_RELOAD=1")
	if code != 1 || !strings.Contains(out, "reload ioctl failed") || calls[len(calls)-1] != "resume --noudevsync "+NodeDiskName {
		t.Errorf("failed reload: exit %d %q, calls %q (want exit 1, the error, and a resume last)", code, out, calls)
	}
	code, out, calls = runDiskScript(t, dir, "slow", "TARGETS=linear flakey")
	if code != 3 || !strings.Contains(out, "no dm-delay target") || len(calls) != 1 {
		t.Errorf("no delay target: exit %d %q, calls %q (want exit 3 and only the targets query)", code, out, calls)
	}
	if code, out, _ := runDiskScript(t, dir, "fast"); code != 2 || !strings.Contains(out, "unknown mode") {
		t.Errorf("unknown mode: exit %d %q", code, out)
	}
	if _, err := DiskTable("fast", 1, "/dev/vda"); err == nil {
		t.Error("DiskTable of an unknown mode: no error")
	}
}
