package main

// The failover benchmark of issue 9 (scripts/bench-failover.sh runs it; not
// in the default suite: DROVER_BENCH_FAILOVER=N, the number of node deaths,
// turns it on). One `local up --vm-nodes 3` cluster (DRBD 8.4, BMCs as fence
// devices, lease TTL DROVER_BENCH_TTL, default 10 s as `local up --vm-nodes`)
// with three drbd instances running the workload driver, b1 on
// node1:node2, b2 on node2:node3, b3 on node3:node1. Each round powers off
// the node that is b<round%3>'s primary (`local fault --power-off`, the
// guest's QEMU is killed) and measures, on the host's clock from just
// before that command, until every instance whose primary it was is
// running on its secondary (record moved, domain running there); then it
// powers the node on again at once (`node power on`, through its BMC;
// the checks of the moved copies run while it boots) and waits
// until every instance is redundant again (both copies UpToDate and
// connected: the drbd-rejoin controller brings the returned node's disks up
// as secondary). Checked each round, a failure of the test: the node was
// fenced (STONITH confirmed off); the new copy continues after every record
// the host saw acknowledged; no instance runs on two nodes; the returned
// node runs none of them; no other node lost its lease (an unneeded
// fence: no other node leaves online); one instance.failover job per
// moved instance. Printed: each death with the path it took (fast: the
// fence device confirmed the power off before the lease expired; normal)
// and its phases (late, lease expiry seen, suspect, fencing, fenced,
// running), p50 and max. About 1-2 min a round on the project's 2 shared cores.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/realtest"
)

func TestVMNodesBenchFailover(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("DROVER_BENCH_FAILOVER"))
	if rounds <= 0 {
		realtest.Optional(t, "a benchmark: DROVER_BENCH_FAILOVER=N (scripts/bench-failover.sh) runs N node deaths")
	}
	needVMNodes(t)
	ttl := os.Getenv("DROVER_BENCH_TTL")
	if ttl == "" {
		ttl = "10"
	}
	t.Logf("bench-failover: load before local up: %s", loadAvg())
	l := startVMLabN(t, "8.4", labKit(), 3, "--node-lease-ttl", ttl)
	if keep := os.Getenv("DROVER_BENCH_LOGS"); keep != "" {
		// Before local down and the lab dir's removal (cleanups run last
		// first): the masters' logs and the guests' consoles, also of a
		// failed run.
		t.Cleanup(func() { l.keepLogs(keep) })
	}
	l.reniceGuests()
	tarball := t.TempDir() + "/tiny.tar.gz"
	writeTinyRootfs(t, tarball, "")
	l.mustCLI("template", "import", "tiny", tarball)
	names := []string{"b1", "b2", "b3"}
	for i, name := range names {
		pair := fmt.Sprintf("node%d:node%d", i+1, (i+1)%3+1)
		l.jobCLI("instance", "add", "-t", "drbd", "-n", pair, "--disk", "64M", "-H", "workload", "--no-install",
			"-o", "tiny", "-B", "vcpus=1,memory=32M", name)
	}
	for _, name := range names {
		l.waitSynced(l.record(name))
	}
	var took []float64
	failovers := 0
	for round := 0; round < rounds; round++ {
		victim := l.record(names[round%len(names)]).PrimaryNode
		moved := l.benchRound(round+1, victim, names)
		took = append(took, moved.took.Seconds())
		failovers += moved.count
		if c := strings.Count(l.mustCLI("job", "list"), "instance.failover"); c != failovers {
			t.Fatalf("round %d: %d instance.failover jobs in all, want %d (one per moved instance)", round+1, c, failovers)
		}
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	t.Logf("bench-failover: %d deaths (lease TTL %s s, guests' niceness %q): power-off to running on the secondary p50 %.1f s, max %.1f s, min %.1f s; all: %s; load after: %s",
		len(took), ttl, os.Getenv("DROVER_BENCH_NICE"), percentile(sorted, 50), sorted[len(sorted)-1], sorted[0], fmtSeconds(took), loadAvg())
}

// benchMoved is what one round measured.
type benchMoved struct {
	took  time.Duration
	count int
}

// benchRound is one death of victim (see TestVMNodesBenchFailover).
func (l *vmLab) benchRound(round int, victim string, names []string) benchMoved {
	t := l.t
	type moving struct {
		rec       keys.InstanceRecord
		target    string
		acked     int
		starts    int
		dev, from string
	}
	var ms []moving
	for _, name := range names {
		rec := l.record(name)
		if rec.PrimaryNode != victim {
			continue
		}
		target := secondaryNode(rec)
		dev := "/dev/drbd" + strconv.Itoa(minorOf(rec, target))
		ms = append(ms, moving{rec: rec, target: target, acked: l.lastAck(victim, rec), dev: dev,
			starts: len(writingRE(dev).FindAllString(l.consoleIfAny(target, rec), -1))})
	}
	logs, _ := filepath.Glob(filepath.Join(l.dir, "log", "m*.log"))
	offsets := map[string]int64{}
	for _, f := range logs {
		offsets[f] = fileSize(f)
	}
	t0 := time.Now()
	l.mustCLI("local", "fault", "--dir", l.dir, "--power-off", victim)
	waitFor(t, 180*time.Second, fmt.Sprintf("round %d: the instances of %s running on their secondaries", round, victim), func() bool {
		for _, m := range ms {
			if l.record(m.rec.Name).PrimaryNode != m.target || l.domainOn(m.target, m.rec.Name) != keys.DomainRunning {
				return false
			}
		}
		return true
	})
	took := time.Since(t0)
	// Powered on at once: the checks below run while it boots.
	l.mustCLI("node", "power", "on", victim)
	back := time.Now()
	l.reniceGuests()
	h := l.nodeHealth(victim)
	if h.Health == nil || h.Health.LastFence == nil || !h.Health.LastFence.OK || h.Health.LastFence.At.Before(t0) {
		t.Fatalf("round %d: instances moved but %s has no confirmed fence of this round: %+v", round, victim, h.Health)
	}
	phase := func(state string) string {
		at := transitionAt(h, state)
		if at.Before(t0) {
			return "-"
		}
		return fmt.Sprintf("%.1f", at.Sub(t0).Seconds())
	}
	var moved []string
	for _, m := range ms {
		// The new copy continues after every record the host saw acknowledged.
		var from int
		waitFor(t, 120*time.Second, m.rec.Name+" writing on "+m.target, func() bool {
			text := l.consoleIfAny(m.target, m.rec)
			all := writingRE(m.dev).FindAllStringSubmatch(text, -1)
			if len(all) <= m.starts {
				return false
			}
			from, _ = strconv.Atoi(all[len(all)-1][1])
			if !strings.Contains(text, fmt.Sprintf("records up to %d intact", from-1)) {
				t.Fatalf("round %d: %s on %s did not find records 1..%d intact:\n%s", round, m.rec.Name, m.target, from-1, text)
			}
			return true
		})
		if from-1 < m.acked {
			t.Fatalf("round %d: %s continues on %s from %d; the host saw %d acknowledged", round, m.rec.Name, m.target, from, m.acked)
		}
		moved = append(moved, fmt.Sprintf("%s->%s (acked %d, continues %d)", m.rec.Name, m.target, m.acked, from))
	}
	var online time.Duration
	waitFor(t, 300*time.Second, fmt.Sprintf("round %d: every instance redundant again after %s came back", round, victim), func() bool {
		if online == 0 && l.nodeHealth(victim).Status == api.NodeOnline {
			online = time.Since(back)
		}
		for _, name := range names {
			if !l.redundant(l.record(name)) {
				return false
			}
		}
		return true
	})
	for _, name := range names {
		rec := l.record(name)
		for _, n := range []string{"node1", "node2", "node3"} {
			if n != rec.PrimaryNode && l.domainOn(n, name) == keys.DomainRunning {
				t.Fatalf("round %d: %s runs on %s and on its primary %s", round, name, n, rec.PrimaryNode)
			}
		}
	}
	for _, n := range []string{"node1", "node2", "node3"} {
		h := l.nodeHealth(n)
		if n == victim || h.Health == nil {
			continue
		}
		for _, st := range []string{api.NodeUnreachable, api.NodeSuspect, api.NodeFencing, api.NodeFenced} {
			if transitionAt(h, st).After(t0) {
				t.Fatalf("round %d: %s, which was not powered off, went %s: an unneeded fence; %+v", round, n, st, h.Health)
			}
		}
	}
	path := "normal path"
	if fencingReason(h) == "power off confirmed by the fence device" {
		path = "fast path"
	}
	late := "-"
	if at := logTimeOf(logs, offsets, "node_late", victim); !at.IsZero() {
		late = fmt.Sprintf("%.1f", at.Sub(t0).Seconds())
	}
	t.Logf("bench-failover round %d: %s off (%s): late +%s s, unreachable +%s s, suspect +%s s, fencing +%s s, fenced +%s s, running on the secondaries +%.1f s (%s); after power on: online %.0f s, redundant again %.0f s; load %s",
		round, victim, path, late, phase(api.NodeUnreachable), phase(api.NodeSuspect), phase(api.NodeFencing), phase(api.NodeFenced),
		took.Seconds(), strings.Join(moved, ", "), online.Seconds(), time.Since(back).Seconds(), loadAvg())
	return benchMoved{took: took, count: len(ms)}
}

// redundant: both copies of every disk of rec UpToDate and connected, as
// the agents publish it.
func (l *vmLab) redundant(rec keys.InstanceRecord) bool {
	for _, d := range rec.Disks {
		p, s := d.DRBD.Nodes[0].Node, d.DRBD.Nodes[1].Node
		a, _ := l.drbdState(p, d.DRBD.Resource)
		b, _ := l.drbdState(s, d.DRBD.Resource)
		if a.Disk != "UpToDate" || b.Disk != "UpToDate" || !connectedTo(b, p) || !connectedTo(a, s) {
			return false
		}
	}
	return true
}

// fencingReason is the reason of n's last fencing transition.
func fencingReason(n api.Node) string {
	reason := ""
	for _, tr := range n.Health.Transitions {
		if tr.State == api.NodeFencing {
			reason = tr.Reason
		}
	}
	return reason
}

// logTimeOf is the time of the first line with msg=msg and node=node in
// the master logs after their offsets (zero: none).
func logTimeOf(logs []string, offsets map[string]int64, msg, node string) time.Time {
	var first time.Time
	for _, f := range logs {
		for _, line := range logLines(f, offsets[f], "msg="+msg+" ") {
			if !strings.Contains(line, " node="+node+" ") && !strings.HasSuffix(line, " node="+node) {
				continue
			}
			ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			if at, err := time.Parse(time.RFC3339Nano, ts); err == nil && (first.IsZero() || at.Before(first)) {
				first = at
			}
		}
	}
	return first
}

func writingRE(dev string) *regexp.Regexp {
	return regexp.MustCompile(`writing records to ` + regexp.QuoteMeta(dev) + ` from (\d+)`)
}

func secondaryNode(rec keys.InstanceRecord) string {
	for _, n := range rec.Disks[0].DRBD.Nodes {
		if n.Node != rec.PrimaryNode {
			return n.Node
		}
	}
	return ""
}

func minorOf(rec keys.InstanceRecord, node string) int {
	for _, n := range rec.Disks[0].DRBD.Nodes {
		if n.Node == node {
			return n.Minor
		}
	}
	return -1
}

// reniceGuests gives the lab's QEMU processes the niceness in
// DROVER_BENCH_NICE (unset: left alone). On a host shared with other
// engineers' suites (load 15-25 on 2 cores) a TCG guest's vCPU can be
// starved for seconds, longer than a 5 s lease allows; a real node's CPU is
// its own. The figure printed says which niceness was used.
func (l *vmLab) reniceGuests() {
	nice := os.Getenv("DROVER_BENCH_NICE")
	if nice == "" {
		return
	}
	out, _ := exec.Command("pgrep", "-f", "qemu-system-x86_64 -name node.*"+l.dir).Output()
	for _, pid := range strings.Fields(string(out)) {
		if b, err := exec.Command("renice", "-n", nice, "-p", pid).CombinedOutput(); err != nil {
			l.t.Logf("renice %s: %v %s", pid, err, b)
		}
	}
}

// consoleIfAny is instance's console on node, "" when it has none there.
func (l *vmLab) consoleIfAny(node string, inst keys.InstanceRecord) string {
	res := l.tryCommand(node, keys.CmdInstanceConsole, inst, keys.ConsoleParams{MaxBytes: 1 << 16}, 90*time.Second)
	var out keys.ConsoleOutput
	_ = json.Unmarshal(res.Output, &out)
	return out.Text
}

func percentile(sorted []float64, p int) float64 {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, i-1)]
}

func fmtSeconds(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.1f", x))
	}
	return strings.Join(s, " ")
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// keepLogs copies the masters' logs and the node guests' consoles out of
// the lab dir into dir (DROVER_BENCH_LOGS, set by scripts/bench-failover.sh).
func (l *vmLab) keepLogs(dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Logf("bench-failover: keep logs: %v", err)
		return
	}
	logs, _ := filepath.Glob(filepath.Join(l.dir, "log", "*.log"))
	consoles, _ := filepath.Glob(filepath.Join(l.dir, "vm", "node*", "console.log"))
	for _, src := range append(logs, consoles...) {
		name := filepath.Base(src)
		if name == "console.log" {
			name = filepath.Base(filepath.Dir(src)) + "-console.log"
		}
		b, err := os.ReadFile(src)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			l.t.Logf("bench-failover: keep %s: %v", src, err)
		}
	}
	l.t.Logf("bench-failover: logs kept in %s", dir)
}
