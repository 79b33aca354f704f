package main

import (
	"strings"
	"testing"
)

// local fault takes exactly one fault flag and one node; the disk verbs
// are among them.
func TestLocalFaultArguments(t *testing.T) {
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"slow-disk"}, "slow-disk"},
		{[]string{"fail-disk"}, "fail-disk"},
		{[]string{"heal-disk"}, "heal-disk"},
		{[]string{"kill-agent"}, "kill-agent"},
		{nil, ""},
		{[]string{"slow-disk", "heal-disk"}, ""},
	} {
		got, err := faultChosen(func(f string) bool { return strings.Contains(" "+strings.Join(c.set, " ")+" ", " "+f+" ") })
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("%v: %q, %v; want %q", c.set, got, err, c.want)
		}
		if err != nil && !strings.Contains(err.Error(), "--slow-disk, --fail-disk, --heal-disk") {
			t.Errorf("%v: the error does not name the disk verbs: %v", c.set, err)
		}
	}
	dir := t.TempDir()
	lc := &localCluster{t: t, dir: dir}
	for _, args := range [][]string{
		{"local", "fault", "--dir", dir, "--slow-disk", "--fail-disk", "node1"},
		{"local", "fault", "--dir", dir, "--fail-disk"},
	} {
		if out, errOut, code := lc.cli(nil, args...); code != exitUsage {
			t.Errorf("drover %s: exit %d (want %d, usage) %s%s", strings.Join(args, " "), code, exitUsage, out, errOut)
		}
	}
	if _, errOut, code := lc.cli(nil, "local", "fault", "--dir", dir, "--heal-disk", "node1"); code == 0 || !strings.Contains(errOut, "node1") {
		t.Errorf("--heal-disk on a node of no local cluster: exit %d, %s", code, errOut)
	}
}
