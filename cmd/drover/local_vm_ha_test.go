package main

// Fencing with node guests: `local up --vm-nodes 2` gives each guest an
// ipmi_sim BMC, registered as its fence_ipmilan device. An isolated node
// (cut link) fences itself (destroys its workload) before the master
// powers it off through its BMC and records it fenced; only then is the
// instance started on the secondary, and it finds every record the host saw
// acknowledged. A power loss is detected, fenced (the BMC confirms off) and
// recorded, and `node power on` boots the guest again.
// Runtime: about 3-5 minutes on 2 loaded cores.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence/ipmisim"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
)

// nodeHealth reads a node through `node info --output json`.
func (l *vmLab) nodeHealth(node string) api.Node {
	out, _, code := l.localCluster.cli(nil, "--output", "json", "node", "info", node)
	var ns []api.Node
	if code != 0 || json.Unmarshal([]byte(out), &ns) != nil || len(ns) != 1 {
		return api.Node{}
	}
	return ns[0]
}

// waitFenced waits until node is fenced (or offline after that) and
// returns it.
func (l *vmLab) waitFenced(node string, limit time.Duration) api.Node {
	var n api.Node
	waitFor(l.t, limit, node+" fenced", func() bool {
		n = l.nodeHealth(node)
		return n.Health != nil && (n.Status == api.NodeFenced || n.Status == api.NodeOffline)
	})
	return n
}

// transitionAt is when node last entered state (zero if never).
func transitionAt(n api.Node, state string) time.Time {
	var at time.Time
	for _, tr := range n.Health.Transitions {
		if tr.State == state {
			at = tr.At
		}
	}
	return at
}

// logLines are the lines of a log file, from byte offset from, that
// contain one of the words.
func logLines(path string, from int64, words ...string) []string {
	b, _ := os.ReadFile(path)
	if int64(len(b)) < from {
		from = 0
	}
	var out []string
	for _, l := range strings.Split(string(b[from:]), "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, strings.TrimSpace(l))
				break
			}
		}
	}
	return out
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func TestVMNodesFencing(t *testing.T) {
	needVMNodes(t)
	if err := ipmisim.Check(); err != nil {
		hvtest.SkipOrFail(t, err.Error())
	}
	l := startVMLab(t, "8.4", labKit())
	for _, n := range []string{"node1", "node2"} {
		info := l.mustCLI("node", "info", n)
		b, err := os.ReadFile(filepath.Join(l.dir, "vm", n, "bmc.json"))
		if err != nil {
			t.Fatal(err)
		}
		var conf bmcConf
		_ = json.Unmarshal(b, &conf)
		if !strings.Contains(info, "Fence device: fence_ipmilan") || !strings.Contains(info, "password=(hidden)") || conf.Password == "" {
			t.Fatalf("node info %s does not show its BMC:\n%s", n, info)
		}
		for _, out := range []string{info, l.mustCLI("--output", "json", "node", "list"), l.mustCLI("--output", "json", "job", "list")} {
			if strings.Contains(out, conf.Password) {
				t.Fatalf("the BMC password of %s is shown:\n%s", n, out)
			}
		}
	}
	if out := l.mustCLI("node", "power", "status", "node1"); !strings.Contains(out, "power on") {
		t.Fatalf("node power status node1: %s", out)
	}
	inst, acked := l.startMirror("8.4")

	// 1. node1 cut off: its agent fences itself, the master powers it off
	// through its BMC; only then does the instance start on node2.
	console1 := filepath.Join(l.dir, "vm", "node1", "console.log")
	masterLog := filepath.Join(l.dir, "log", "m1.log")
	c0, m0 := fileSize(console1), fileSize(masterLog)
	tCut := time.Now()
	l.mustCLI("local", "fault", "--dir", l.dir, "--isolate", "node1")
	n1 := l.waitFenced("node1", 120*time.Second)
	fencedAt := time.Now()
	if f := n1.Health.LastFence; f == nil || !f.OK || f.Power != "off" || n1.Health.Method != "stonith" {
		t.Fatalf("node1 fenced without a confirmed power-off: %+v", n1.Health)
	}
	if st := l.mustCLI("local", "status", "--dir", l.dir); !regexp.MustCompile(`(?m)^node1\tvm\tstopped`).MatchString(st) {
		t.Fatalf("node1's guest still runs after STONITH:\n%s", st)
	}
	guest := logLines(console1, c0, "lease_lost_self_fence", "self_fence_done", "self_fence_failed")
	if len(guest) < 2 || !strings.Contains(strings.Join(guest, "\n"), "self_fence_done") {
		t.Fatalf("node1 did not fence itself before it was powered off; its console after the cut:\n%s", strings.Join(logLines(console1, c0, ""), "\n"))
	}
	masterSide := logLines(masterLog, m0, "node_unreachable", "node_suspect", "node_fencing", "stonith_", "node_fenced")
	t.Logf("order, node1's side (its console; everything in it precedes the power-off, which ends the console):\n  %s", strings.Join(guest, "\n  "))
	t.Logf("order, the master's side (m1.log):\n  %s", strings.Join(masterSide, "\n  "))
	inst = l.runOnSecondary(inst, "node2", "/dev/drbd1", acked)
	t.Logf("isolate node1: unreachable +%.1f s, fenced +%.1f s, instance started on node2 after %v (host clock; cut at %s)",
		transitionAt(n1, api.NodeUnreachable).Sub(tCut).Seconds(), transitionAt(n1, api.NodeFenced).Sub(tCut).Seconds(),
		time.Since(fencedAt).Round(time.Millisecond), tCut.UTC().Format(time.RFC3339Nano))
	l.mustCLI("local", "fault", "--dir", l.dir, "--heal", "node1")

	// 2. node2 loses its power: detected, fenced through its BMC (which
	// confirms off), recorded.
	tOff := time.Now()
	l.mustCLI("local", "fault", "--dir", l.dir, "--power-off", "node2")
	n2 := l.waitFenced("node2", 120*time.Second)
	if f := n2.Health.LastFence; f == nil || !f.OK || f.Power != "off" {
		t.Fatalf("node2 fenced without a confirmed power-off: %+v", n2.Health)
	}
	t.Logf("power-off node2: unreachable +%.1f s, suspect +%.1f s, fenced +%.1f s (STONITH %v, %d attempt(s)); lease TTL 10 s",
		transitionAt(n2, api.NodeUnreachable).Sub(tOff).Seconds(), transitionAt(n2, api.NodeSuspect).Sub(tOff).Seconds(),
		transitionAt(n2, api.NodeFenced).Sub(tOff).Seconds(), n2.Health.LastFence.Duration.Round(time.Millisecond), n2.Health.LastFence.Attempts)
	// node power on boots the guest again.
	l.mustCLI("node", "power", "on", "node2")
	if st := l.mustCLI("local", "status", "--dir", l.dir); !regexp.MustCompile(`(?m)^node2\tvm\trunning`).MatchString(st) {
		t.Fatalf("node power on did not boot node2's guest:\n%s", st)
	}
}
