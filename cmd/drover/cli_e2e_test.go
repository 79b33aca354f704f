package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
)

// TestCLIAsOperatorsExpect runs the built binary against a local cluster
// (fake hypervisor) with the command lines of issue 7, point 8: flags after
// positional arguments, JSON errors, exit codes of unknown verbs and names,
// Ganeti's indexed --disk/--net, --units and name completion. About 10 s.
func TestCLIAsOperatorsExpect(t *testing.T) {
	lc := startLocal(t, 1, 2, "127.0.18")
	waitFor(t, 60*time.Second, "nodes online", func() bool {
		st := lc.nodeStatus()
		return st["node1"] == "online" && st["node2"] == "online"
	})
	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "cli")
	lc.mustCLI("template", "import", "tiny", tarball)

	// Ganeti's indexed forms, and flags after the name.
	lc.mustCLI("instance", "add", "web1", "-t", "file", "--disk", "0:size=64M", "--disk", "1:size=1G", "--net", "0:link=br0", "--net", "1",
		"-o", "tiny", "-n", "node1", "-B", "vcpus=1,memory=256M")
	out := lc.mustCLI("instance", "list", "web1", "-o", "name,status,disk_sizes,nic_links", "--no-headers", "--separator", " ")
	if strings.TrimSpace(out) != "web1 running 64M,1G br0,-" {
		t.Fatalf("instance list web1 -o ...: %q", out)
	}
	// --units, as gnt-*: m, g, t, h.
	for u, want := range map[string]string{"m": "web1 256 64,1024", "g": "web1 0.2 0.1,1.0", "h": "web1 256M 64M,1G"} {
		out := lc.mustCLI("instance", "list", "web1", "--units", u, "-o", "name,memory,disk_sizes", "--no-headers", "--separator", " ")
		if strings.TrimSpace(out) != want {
			t.Errorf("--units %s: %q, want %q", u, out, want)
		}
	}
	mib, err := strconv.ParseInt(strings.TrimSpace(lc.mustCLI("node", "list", "node1", "--units", "m", "-o", "mtotal", "--no-headers")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if out := lc.mustCLI("node", "list", "node1", "--units", "g", "-o", "name,mtotal", "--no-headers", "--separator", " "); strings.TrimSpace(out) != fmt.Sprintf("node1 %.1f", float64(mib)/1024) {
		t.Errorf("node list --units g: %q, MiB %d", out, mib)
	}
	// The global --output after the verb.
	var nodes []api.Node
	if err := json.Unmarshal([]byte(lc.mustCLI("node", "list", "--output", "json")), &nodes); err != nil || len(nodes) != 2 {
		t.Fatalf("node list --output json: %v %v", nodes, err)
	}
	// node list NAME filters; an unknown name exits 4.
	if out := lc.mustCLI("node", "list", "node2", "--no-headers", "-o", "name"); strings.TrimSpace(out) != "node2" {
		t.Errorf("node list node2: %q", out)
	}
	if _, errOut, code := lc.cli(nil, "node", "list", "node1", "nope"); code != exitNotFound || !strings.Contains(errOut, "node nope not found") {
		t.Errorf("node list nope: exit %d: %s", code, errOut)
	}
	if _, _, code := lc.cli(nil, "instance", "list", "nope"); code != exitNotFound {
		t.Errorf("instance list nope: exit %d", code)
	}
	// Errors in JSON mode are JSON, on stderr, with the exit code.
	for _, args := range [][]string{
		{"--output", "json", "instance", "info", "nope"},
		{"instance", "info", "nope", "--output", "json"},
		{"node", "list", "nope", "--output=json"},
	} {
		so, se, code := lc.cli(nil, args...)
		var je jsonError
		if err := json.Unmarshal([]byte(se), &je); err != nil || je.Error == nil || je.Error.Code != api.CodeUnknownEntity || je.ExitCode != exitNotFound || code != exitNotFound || so != "" {
			t.Errorf("drover %v: exit %d, stdout %q, stderr %q (%v)", args, code, so, se, err)
		}
	}
	so, se, code := lc.cli(nil, "--output", "json", "node", "frob")
	var je jsonError
	if err := json.Unmarshal([]byte(se), &je); err != nil || code != exitUsage || je.Error.Code != api.CodeWrongInput || so != "" {
		t.Errorf("unknown verb in JSON mode: exit %d %q %q", code, so, se)
	}
	// Unknown verbs and nouns, bad flags and missing required flags exit 2.
	for _, args := range [][]string{{"node", "frob"}, {"frob"}, {"instance", "list", "--bogus"}, {"instance", "add", "x"}, {"node", "list", "--units", "q"},
		{"instance", "add", "w9", "-t", "file", "-o", "tiny", "--disk", "1:size=1G"}, {"instance", "add", "w9", "-t", "file", "-o", "tiny", "--disk", "0:size=1M"}} {
		if _, errOut, code := lc.cli(nil, args...); code != exitUsage {
			t.Errorf("drover %v: exit %d, want %d: %s", args, code, exitUsage, errOut)
		}
	}
	// Input the nodes could never take, refused at submit with its code.
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"instance", "add", "w9", "-t", "diskless", "-o", "tiny", "-H", "lxc"}, exitUsage, "no node runs hypervisor lxc (the nodes run: fake)"},
		{[]string{"instance", "add", "w9", "-t", "diskless", "-o", "tiny", "-n", "node1", "-B", "vcpus=64"}, exitNoResources, "instance wants 64 vcpus"},
		{[]string{"instance", "modify", "web1", "-B", "memory=64T"}, exitUsage, "memory"},
		{[]string{"instance", "modify", "web1", "-B", "memory=1T"}, exitNoResources, "memory in all"},
	} {
		if _, errOut, code := lc.cli(nil, c.args...); code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("drover %v: exit %d, want %d with %q: %s", c.args, code, c.code, c.msg, errOut)
		}
	}
	// Completion: instance, node, job and field names.
	complete := func(args ...string) []string {
		out, _, _ := lc.cli(nil, append(args, completionFlag)...)
		return strings.Fields(out)
	}
	if got := complete("instance", "remove"); !slices.Equal(got, []string{"web1"}) {
		t.Errorf("complete instance remove: %v", got)
	}
	if got := complete("node", "info"); !slices.Equal(got, []string{"node1", "node2"}) {
		t.Errorf("complete node info: %v", got)
	}
	if got := complete("job", "info"); len(got) < 3 || !slices.Contains(got, "1") || !slices.Contains(got, "3") {
		t.Errorf("complete job info: %v", got)
	}
	if got := complete("node", "list", "-o"); !slices.Contains(got, "mtotal") || !slices.Contains(got, "dfree") {
		t.Errorf("complete node list -o: %v", got)
	}
	if got := complete("instance", "list", "--fields"); !slices.Contains(got, "disk_sizes") {
		t.Errorf("complete instance list --fields: %v", got)
	}
	// A flag after the name of a destructive verb.
	lc.mustCLI("instance", "remove", "web1", "-f")
	if st := lc.instances(); len(st) != 0 {
		t.Fatalf("after remove web1 -f: %v", st)
	}
}
