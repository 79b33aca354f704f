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
info) [ -e "$STATE" ];;
create) touch "$STATE";;
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
		"LOG=" + log, "STATE=" + filepath.Join(dir, "created"), "TARGETS=linear delay flakey"}, env...)
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

// The guest's table switch: the first call creates the device, later ones
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
	code, out, calls := runDiskScript(t, dir, "linear")
	if want := "create --noudevsync " + NodeDiskName + " --table " + table("linear"); code != 0 || calls[len(calls)-1] != want {
		t.Fatalf("first linear: exit %d %q, calls %q, want last %q", code, out, calls, want)
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
