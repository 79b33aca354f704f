package main

// TestInstallDocThreeHosts follows docs/install.md from three hosts to a
// running cluster: it reads the guide's shell blocks and runs them, as
// written, on three hosts hv1..hv3 (10.0.0.11-13) built from namespaces
// (installdoc_hosts_test.go). The daemons start from dist/systemd's units
// through a systemctl stand-in, the copies between hosts go through an ssh
// stand-in (installdoc_standin_test.go).
//
// Deviations from the guide, each forced by the test machine:
//   - the agents run --hypervisor test (libvirt's test driver) with one
//     private libvirtd per host instead of kvm on the system libvirtd: no
//     guest boots; DROVER_AGENT_OPTS gains --libvirt-uri (that daemon) and
//     --watchdog none (the test must never arm the machine's watchdog);
//   - §7's `template build` (mmdebstrap, minutes, network) is replaced by a
//     `template import` of a tiny root filesystem under the same name, and
//     `instance console` (interactive) is not run;
//   - not run: §1's apt-get and go build (CI's scripts/test.sh installs the
//     packages; TestMain builds drover), §2's /etc/network/interfaces (the
//     test makes the same br0 holding eno1 with ip), §5's external etcd
//     variant and §8;
//   - §3's nftables rule goes into an input chain the test makes, which
//     drops by policy (as §3 describes it).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/nodeagent/libvirtd"
	"github.com/drover-project/drover/realtest"
)

func TestInstallDocThreeHosts(t *testing.T) {
	realtest.Short(t, "three hosts in namespaces, three masters and three agents")
	realtest.NeedRoot(t, "network, mount and UTS namespaces, private libvirtds")
	realtest.NeedBinaries(t, "ip", "unshare", "nsenter", "bash", "rsync", "nft", "libvirtd", "virtlogd", "virsh", "mkfs.ext4")
	start := time.Now()
	md, err := os.ReadFile("../../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	secs := docBlocks(string(md))
	for sec, n := range map[string]int{"1": 2, "3": 1, "4": 2, "5": 2, "6": 3, "7": 1} {
		if len(secs[sec]) != n {
			t.Fatalf("docs/install.md §%s has %d shell blocks, this test follows %d: update the test with the guide", sec, len(secs[sec]), n)
		}
	}
	dir := t.TempDir()
	lab := newDocLab(t, dir, 3)
	writeStandins(t, filepath.Join(dir, "standin"))
	socks := map[string]string{}
	for i, h := range lab.hosts {
		copyFile(t, droverBin, filepath.Join(h.work, "drover"), 0o755)
		for _, u := range []string{"drover-master.service", "drover-agent.service"} {
			copyFile(t, filepath.Join("../../dist/systemd", u), filepath.Join(h.work, "dist", "systemd", u), 0o644)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		d, err := libvirtd.Start(ctx, libvirtd.Options{Dir: filepath.Join(dir, fmt.Sprintf("lv%d", i+1))})
		cancel()
		if err != nil {
			t.Fatalf("libvirtd for %s: %v", h.name, err)
		}
		t.Cleanup(func() { _ = d.Stop() })
		socks[h.name] = d.URI("test")
	}
	hv1 := lab.hosts[0]
	t.Logf("three hosts and their libvirtds: %s", time.Since(start).Round(time.Millisecond))

	// §1: the binary on every host.
	for _, h := range lab.hosts {
		lab.mustRun(h, "§1 install", docLine(t, secs["1"][1], "install -m 0755 drover /usr/local/bin/drover"))
	}
	// §3: the rule, into an input chain that drops everything else.
	for _, h := range lab.hosts {
		lab.mustRun(h, "drop-policy input chain", "nft -f - <<'EOF'\n"+dropPolicyRuleset+"EOF\n")
		lab.mustRun(h, "§3 firewall", secs["3"][0])
	}
	// §4: the cluster directory on hv1, copied to hv2 and hv3.
	lab.mustRun(hv1, "§4 cluster init", secs["4"][0])
	lab.mustRun(hv1, "§4 copy", secs["4"][1])
	// §5: a master on each host, then the check on hv1.
	for i, h := range lab.hosts {
		lab.mustRun(h, "§5 master", forHost(secs["5"][0], i+1))
	}
	session := exportLines(secs["5"][1])
	lab.runUntil(hv1, "§5 check", secs["5"][1], 120*time.Second)
	var ci api.ClusterInfo
	if err := json.Unmarshal([]byte(lab.mustRun(hv1, "cluster info", session+"drover --output json cluster info")), &ci); err != nil {
		t.Fatal(err)
	}
	leaders, healthy := 0, 0
	for _, m := range ci.Masters {
		if m.Leader {
			leaders++
		}
		if m.Healthy {
			healthy++
		}
	}
	if len(ci.Masters) != 3 || healthy != 3 || leaders != 1 || ci.Leader == "" {
		t.Fatalf("cluster info after §5: leader %q, masters %+v", ci.Leader, ci.Masters)
	}
	t.Logf("§5: three masters healthy, leader %s, epoch %d: %s", ci.Leader, ci.Epoch, time.Since(start).Round(time.Millisecond))

	// §6: register the nodes on hv1, start an agent on each.
	for i := range lab.hosts {
		lab.mustRun(hv1, "§6 node add", session+forHost(secs["6"][0], i+1))
	}
	for i, h := range lab.hosts {
		lab.mustRun(h, "§6 agent", agentDeviation(t, forHost(secs["6"][1], i+1), socks[h.name]))
	}
	lab.runUntil(hv1, "three nodes online", session+"test \"$(drover node list --no-headers -o name,status --separator ' ' | sort | tr '\\n' ,)\" = 'hv1 online,hv2 online,hv3 online,'", 90*time.Second)
	out := lab.mustRun(hv1, "§6 check", session+secs["6"][2])
	for _, h := range lab.hosts {
		if !strings.Contains(out, h.name) {
			t.Fatalf("§6's node list lacks %s:\n%s", h.name, out)
		}
	}
	t.Logf("§6: three nodes online, cluster verify passes: %s", time.Since(start).Round(time.Millisecond))

	// §7: the first instance.
	tarball := filepath.Join(dir, "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "install-doc")
	lab.mustRun(hv1, "§7 first instance", session+firstInstanceDeviation(t, secs["7"][0], tarball))
	out = lab.mustRun(hv1, "instance list", session+"drover instance list --no-headers -o name,status,pnode --separator ' '")
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "web1" || f[1] != api.InstRunning {
		t.Fatalf("instance list after §7: %q", out)
	}
	if d := virshDomains(t, socks[f[2]]); d["web1"] != "running" {
		t.Fatalf("virsh on %s after §7: %v", f[2], d)
	}
	// Every master copies the new template within seconds (a reader would
	// not run verify at once; the masters retry a copy after 1 s, 2 s, ...).
	lab.runUntil(hv1, "cluster verify after §7", session+"drover cluster verify", 20*time.Second)
	lab.daemonsAlive()
	t.Logf("docs/install.md on three hosts, first instance on %s: %s", f[2], time.Since(start).Round(time.Millisecond))
}

// dropPolicyRuleset is the firewall §3 assumes: Debian's inet filter
// table, its input chain dropping what no rule accepts.
const dropPolicyRuleset = `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		iif lo accept
		ct state established,related accept
	}
}
`

// forHost rewrites a block written for hv1 (10.0.0.11) for host n.
func forHost(block string, n int) string {
	block = strings.ReplaceAll(block, "hv1", fmt.Sprintf("hv%d", n))
	return strings.ReplaceAll(block, "10.0.0.11", fmt.Sprintf("10.0.0.1%d", n))
}

// exportLines returns a block's export lines: what a reader's shell keeps.
func exportLines(block string) string {
	var sb strings.Builder
	for _, l := range strings.Split(block, "\n") {
		if strings.HasPrefix(l, "export ") {
			sb.WriteString(l + "\n")
		}
	}
	return sb.String()
}

// docLine returns the one line of block that contains s.
func docLine(t *testing.T, block, s string) string {
	t.Helper()
	for _, l := range strings.Split(block, "\n") {
		if strings.Contains(l, s) {
			return l + "\n"
		}
	}
	t.Fatalf("docs/install.md: no line with %q in\n%s", s, block)
	return ""
}

// agentDeviation: libvirt's test driver on the host's private libvirtd,
// and no watchdog (see the top of the file).
func agentDeviation(t *testing.T, block, uri string) string {
	t.Helper()
	out := strings.Replace(block, "DROVER_HYPERVISOR=kvm\n", "DROVER_HYPERVISOR=test\n", 1)
	opts := `DROVER_AGENT_OPTS="--metrics-listen `
	i := strings.Index(out, opts)
	if out == block || i < 0 {
		t.Fatalf("docs/install.md §6: the agent's /etc/default file changed; update agentDeviation:\n%s", block)
	}
	end := i + strings.Index(out[i:], "\"\n")
	return out[:end] + " --libvirt-uri " + uri + " --watchdog none" + out[end:]
}

// firstInstanceDeviation: a tiny template import instead of template
// build, no interactive console.
func firstInstanceDeviation(t *testing.T, block, tarball string) string {
	t.Helper()
	build := docLine(t, block, "drover template build bookworm")
	out := strings.Replace(block, build, "drover template import bookworm "+tarball+"\n", 1)
	return strings.Replace(out, docLine(t, block, "drover instance console web1"), "", 1)
}

// runUntil runs script on h until it succeeds (a reader retrying while the
// daemons come up), or fails the test after limit.
func (l *docLab) runUntil(h *docHost, what, script string, limit time.Duration) string {
	l.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, err := l.run(h, script)
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("%s on %s: still failing after %s: %v\n--- script\n%s--- output\n%s%s", what, h.name, limit, err, script, out, l.logs())
		}
		l.daemonsAlive()
		time.Sleep(500 * time.Millisecond)
	}
}

// daemonsAlive fails the test if a daemon the systemctl stand-in started
// has exited (the units' Restart= is not emulated: an exit is a failure).
func (l *docLab) daemonsAlive() {
	l.t.Helper()
	files, _ := filepath.Glob(filepath.Join(l.state, "pids", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			l.t.Fatal(err)
		}
		stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
		if fields := strings.Fields(string(stat)); err != nil || len(fields) < 3 || fields[2] == "Z" {
			l.t.Fatalf("%s exited%s", filepath.Base(f), l.logs())
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}
