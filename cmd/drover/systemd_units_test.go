package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/drover-project/drover/realtest"
)

// TestSystemdUnits: the units in dist/systemd pass systemd-analyze verify
// (with ExecStart pointed at the test binary), and every flag their
// ExecStart gives exists on that drover verb.
func TestSystemdUnits(t *testing.T) {
	realtest.NeedBinaries(t, "systemd-analyze")
	analyze, _ := exec.LookPath("systemd-analyze")
	units, _ := filepath.Glob("../../dist/systemd/*.service")
	if len(units) != 2 {
		t.Fatalf("units: %v", units)
	}
	dir := t.TempDir()
	flagRE := regexp.MustCompile(`--[a-z][a-z-]+`)
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "/usr/local/bin/drover", droverBin)
		var exec_ string
		for _, l := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
				exec_ = v
			}
		}
		f := strings.Fields(exec_)
		if len(f) < 2 {
			t.Fatalf("%s: ExecStart %q", u, exec_)
		}
		help, err := runHelp(f[1])
		if err != nil {
			t.Fatalf("drover %s --help: %v", f[1], err)
		}
		for _, fl := range flagRE.FindAllString(exec_, -1) {
			if !strings.Contains(help, fl+" ") && !strings.Contains(help, fl+"\n") {
				t.Errorf("%s: ExecStart passes %s, which drover %s does not have", filepath.Base(u), fl, f[1])
			}
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(u)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(analyze, "verify", "--man=no", "drover-master.service", "drover-agent.service")
	cmd.Dir = dir
	// verify checks EnvironmentFile= only when it starts; it does not read it.
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func runHelp(verb string) (string, error) {
	out, err := exec.Command(droverBin, verb, "--help").CombinedOutput()
	return string(out), err
}
