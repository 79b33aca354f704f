package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/drover-project/drover/api"
)

func TestCmdLineReorder(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"drover instance list web1 -o name,status", "drover instance list -o name,status web1"},
		{"drover node list --output json", "drover --output json node list"},
		{"drover instance remove web1 -f", "drover instance remove -f web1"},
		{"drover instance add web1 -t file --disk 10G -B vcpus=2 --no-start", "drover instance add -t file --disk 10G -B vcpus=2 --no-start web1"},
		{"drover --api x node list n1 --output=json --no-headers", "drover --api x --output=json node list --no-headers n1"},
		{"drover instance list -- -odd", "drover instance list -- -odd"},
		{"drover node list n1 --generate-bash-completion", "drover node list n1 --generate-bash-completion"},
		{"drover node frob -x", "drover node frob -x"},
		{"drover instance grow-disk web1 0 1G --submit", "drover instance grow-disk --submit web1 0 1G"},
	} {
		l := parseCmdLine(newApp(), strings.Fields(c.in))
		if got := strings.Join(l.args(), " "); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	l := parseCmdLine(newApp(), strings.Fields("drover node frob"))
	if l.unknown != "frob" || l.parent == nil || l.parent.Name != "node" {
		t.Errorf("unknown verb: %+v", l)
	}
	if l := parseCmdLine(newApp(), strings.Fields("drover node list --output json")); !l.jsonOutput() {
		t.Error("jsonOutput after the verb")
	}
}

func TestParseDisksAndNICs(t *testing.T) {
	d, err := parseDisks([]string{"1:size=5G", "0:size=10G", "512M"})
	if err != nil || !slices.Equal(d, []api.InstanceDisk{{SizeMiB: 10240}, {SizeMiB: 5120}, {SizeMiB: 512}}) {
		t.Errorf("parseDisks = %v, %v", d, err)
	}
	for _, bad := range [][]string{{"1:size=5G"}, {"0:size=1G", "0:size=2G"}, {"0:sise=1G"}, {"x:size=1G"}, {"0:"}} {
		if _, err := parseDisks(bad); exitCodeFor(err) != exitUsage {
			t.Errorf("parseDisks(%v) = %v, want a usage error", bad, err)
		}
	}
	n, err := parseNICs([]string{"0:link=br0", "1", "2:mode=bridged,link=br1", "link=br2"})
	if err != nil || !slices.Equal(n, []api.InstanceNIC{{Link: "br0"}, {}, {Link: "br1"}, {Link: "br2"}}) {
		t.Errorf("parseNICs = %v, %v", n, err)
	}
	for _, bad := range [][]string{{"1:link=br0"}, {"0:mac=aa:bb"}, {"0:mode=routed"}, {"br0"}} {
		if _, err := parseNICs(bad); exitCodeFor(err) != exitUsage {
			t.Errorf("parseNICs(%v) = %v, want a usage error", bad, err)
		}
	}
}

func TestFmtUnits(t *testing.T) {
	for _, c := range []struct {
		mib  int64
		u    string
		want string
	}{
		{512, "h", "512M"}, {2048, "h", "2G"}, {1536, "h", "1.5G"}, {3 << 20, "h", "3.0T"},
		{1536, "m", "1536"}, {1536, "g", "1.5"}, {1 << 20, "t", "1.0"}, {1536, "G", "1.5"},
	} {
		if got := fmtUnits(c.mib, c.u); got != c.want {
			t.Errorf("fmtUnits(%d, %s) = %s, want %s", c.mib, c.u, got, c.want)
		}
	}
	if checkUnits("x") == nil || checkUnits("") != nil || checkUnits("T") != nil {
		t.Error("checkUnits")
	}
}

// FuzzCmdLine: putting flags before positionals keeps every argument (as a
// multiset, "--" aside) and is idempotent.
func FuzzCmdLine(f *testing.F) {
	for _, s := range []string{
		"instance list web1 -o name,status", "node list --output json", "instance remove web1 -f",
		"--api x node list n1 --output=json", "instance list -- -odd", "node frob -x", "instance add w -t file --disk 0:size=1G --net 0:link=br0",
		"node list -o --generate-bash-completion", "-o", "--", "instance grow-disk web1 0 -1",
	} {
		f.Add(s)
	}
	app := newApp()
	f.Fuzz(func(t *testing.T, s string) {
		in := append([]string{"drover"}, strings.Fields(s)...)
		out := parseCmdLine(app, in).args()
		again := parseCmdLine(app, out).args()
		if !slices.Equal(out, again) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}
		count := func(a []string) map[string]int {
			m := map[string]int{}
			for _, x := range a {
				if x != "--" {
					m[x]++
				}
			}
			return m
		}
		if a, b := count(in), count(out); len(a) != len(b) {
			t.Fatalf("arguments changed: %q -> %q", in, out)
		} else {
			for k, v := range a {
				if b[k] != v {
					t.Fatalf("arguments changed: %q -> %q", in, out)
				}
			}
		}
	})
}
