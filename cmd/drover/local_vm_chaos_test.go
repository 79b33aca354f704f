package main

// The chaos harness of issue 9 with node guests (scripts/chaos.sh runs it;
// not in the default suite: DROVER_CHAOS_VM=N, the number of faults, turns
// it on). One `local up --vm-nodes` cluster (3 masters with embedded etcd
// members, DROVER_CHAOS_NODES guests, default 3, DRBD 8.4, a BMC per guest)
// with three drbd instances running the workload driver (w1 on
// node1:node2, w2 on node2:node3, w3 on node3:node1). N faults chosen at
// random (seed printed; DROVER_CHAOS_SEED replays it), weighted so the
// cheap ones are common (local_vm_chaos_faults_test.go has them); after each,
// the cluster must be whole again within a bound (every node online, every
// master healthy, every instance running on its primary and redundant),
// every writer acknowledges past what it had acknowledged before the fault,
// and a new writer begins after every acknowledged record with the records
// before it intact. Between faults, every other round, one instance
// operation (add a drbd instance, migrate one, remove the added one). A
// sampler checks all along that no instance runs twice (local_vm_chaos_watch_test.go).
// At the end every job is final. Prints a table per fault kind: count,
// detection, fencing, failover, whole again (p50, max), violations.
// DROVER_CHAOS_MINUTES bounds the run (default 80): no fault starts after.

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"
)

func TestVMNodesChaos(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("DROVER_CHAOS_VM"))
	if rounds <= 0 {
		realtest.Optional(t, "a chaos run: DROVER_CHAOS_VM=N (scripts/chaos.sh) injects N faults into node guests")
	}
	needVMNodes(t)
	seed, err := strconv.ParseUint(cmp.Or(os.Getenv("DROVER_CHAOS_SEED"), strconv.FormatUint(uint64(time.Now().UnixNano()), 10)), 10, 64)
	if err != nil {
		t.Fatalf("DROVER_CHAOS_SEED: %v", err)
	}
	nodes, _ := strconv.Atoi(cmp.Or(os.Getenv("DROVER_CHAOS_NODES"), "3"))
	masters := cmp.Or(os.Getenv("DROVER_CHAOS_MASTERS"), "3")
	minutes, _ := strconv.Atoi(cmp.Or(os.Getenv("DROVER_CHAOS_MINUTES"), "80"))
	ttl := cmp.Or(os.Getenv("DROVER_CHAOS_TTL"), "10")
	// One instance operation every opsEvery rounds (0: none).
	opsEvery, err := strconv.Atoi(cmp.Or(os.Getenv("DROVER_CHAOS_OPS_EVERY"), "2"))
	if err != nil || opsEvery < 0 {
		t.Fatalf("DROVER_CHAOS_OPS_EVERY: %q is not a count of rounds", os.Getenv("DROVER_CHAOS_OPS_EVERY"))
	}
	rng := rand.New(rand.NewPCG(seed, 9))
	t.Logf("chaos-vm: %d faults, seed %d (DROVER_CHAOS_SEED=%d replays the choices), %d node guests, %s master(s), lease TTL %s s, at most %d min; load %s",
		rounds, seed, seed, nodes, masters, ttl, minutes, loadAvg())
	for _, k := range chaosSkipped {
		t.Logf("chaos-vm: fault kind %q not injected: %s", k.kind, k.why)
	}
	upArgs := []string{"--masters", masters, "--node-lease-ttl", ttl}
	skipDisk := os.Getenv("DROVER_CHAOS_DISK") == ""
	if skipDisk {
		t.Logf("chaos-vm: fault kinds disk-slow, disk-fail not injected: DISK=1 (DROVER_CHAOS_DISK) puts the guests' disks under device-mapper")
	} else {
		upArgs = append(upArgs, "--vm-disk-faults")
	}
	l := startVMLabN(t, "8.4", labKit(), nodes, upArgs...)
	l.reniceGuests()
	var names []string
	for i := 1; i <= nodes; i++ {
		names = append(names, fmt.Sprintf("node%d", i))
	}
	c := &chaosRun{l: l, rng: rng, nodes: names, stats: map[string]*chaosStats{}, single: masters == "1", opsEvery: opsEvery}
	if c.single {
		c.skip = append(c.skip, "member-kill")
	}
	if skipDisk {
		c.skip = append(c.skip, "disk-slow", "disk-fail")
	}
	c.skip = append(c.skip, strings.Fields(strings.ReplaceAll(os.Getenv("DROVER_CHAOS_SKIP"), ",", " "))...)
	if len(c.skip) > 0 {
		t.Logf("chaos-vm: fault kinds not drawn in this run: %v", c.skip)
	}
	tarball := t.TempDir() + "/tiny.tar.gz"
	writeTinyRootfs(t, tarball, "")
	l.mustCLI("template", "import", "tiny", tarball)
	c.watch = l.watchCopies(names)
	t.Cleanup(func() { c.watch.finish() }) // before local down (cleanups run last first)
	for i := 1; i <= 3; i++ {
		if err := c.addInstance(fmt.Sprintf("w%d", i), fmt.Sprintf("node%d", i), fmt.Sprintf("node%d", i%nodes+1)); err != nil {
			t.Fatal(err)
		}
	}
	defer c.report()
	start := time.Now()
	for r := 1; r <= rounds; r++ {
		if time.Since(start) > time.Duration(minutes)*time.Minute {
			c.note("stopped after %d of %d faults: the %d-minute bound", r-1, rounds, minutes)
			break
		}
		c.round(r)
		if t.Failed() {
			break
		}
	}
	c.finish()
}

// chaosStats are the figures of one fault kind.
type chaosStats struct {
	count                              int
	detect, fence, failover, whole     []float64
	violations, unneededFences, opsBad int
}

type chaosRun struct {
	l      *vmLab
	rng    *rand.Rand
	nodes  []string
	insts  []string // tracked instances
	extra  int      // instances added by the operations so far
	watch  *copyWatch
	stats  map[string]*chaosStats
	viol   []string
	notes  []string
	ops    map[string]int
	opsBad []string
	t0     time.Time
	rounds int
	took   []float64
	single bool     // one master: no follower to kill; the leader is started again at once
	skip   []string // fault kinds not drawn
	// opsEvery: one instance operation every opsEvery rounds (0: none).
	opsEvery int
}

func (c *chaosRun) note(format string, args ...any) {
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
	c.l.t.Logf("chaos-vm: "+format, args...)
}

func (c *chaosRun) violation(kind, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.viol = append(c.viol, kind+": "+msg)
	c.stat(kind).violations++
	c.l.t.Errorf("chaos-vm VIOLATION (%s): %s", kind, msg)
	c.dumpAgents()
}

// dumpAgents asks every node guest's agent for its goroutines (local fault
// --dump-agent: SIGUSR1) and logs each dump from its console: where an agent
// that stopped working waits.
func (c *chaosRun) dumpAgents() {
	from := map[string]int64{}
	for _, n := range c.nodes {
		console := filepath.Join(c.l.dir, "vm", n, "console.log")
		from[n] = fileSize(console)
		if out, errOut, code := c.l.localCluster.cli(nil, "local", "fault", "--dir", c.l.dir, "--dump-agent", n); code != 0 {
			c.l.t.Logf("chaos-vm: dump of %s's agent: exit %d %s%s", n, code, out, errOut)
		}
	}
	time.Sleep(3 * time.Second)
	for _, n := range c.nodes {
		b, _ := os.ReadFile(filepath.Join(c.l.dir, "vm", n, "console.log"))
		if int64(len(b)) < from[n] {
			continue
		}
		text := string(b[from[n]:])
		if i := strings.Index(text, "goroutine_dump_end"); i >= 0 {
			text = text[:i]
		}
		c.l.t.Logf("chaos-vm: %s's agent, goroutines after the violation:\n%s", n, text)
	}
}

func (c *chaosRun) stat(kind string) *chaosStats {
	if c.stats[kind] == nil {
		c.stats[kind] = &chaosStats{}
	}
	return c.stats[kind]
}

// round is one fault, the checks after it and, every opsEvery rounds, one
// instance operation.
func (c *chaosRun) round(r int) {
	t := c.l.t
	if c.t0.IsZero() {
		c.t0 = time.Now()
	}
	began := time.Now()
	kind := chaosPick(c.rng, c.skip)
	marks := map[string]writerMark{}
	for _, n := range c.insts {
		marks[n] = c.l.mark(n)
	}
	f := c.inject(kind)
	st := c.stat(kind)
	st.count++
	if f.detect > 0 {
		st.detect = append(st.detect, f.detect.Seconds())
	}
	if f.fence > 0 {
		st.fence = append(st.fence, f.fence.Seconds())
	}
	if f.failover > 0 {
		st.failover = append(st.failover, f.failover.Seconds())
	}
	if f.err != "" {
		c.violation(kind, "round %d (%s): %s", r, f.victim, f.err)
		return
	}
	whole, why := c.waitWhole(f.t0, 360*time.Second)
	if why != "" {
		c.violation(kind, "round %d (%s): not whole again within 360 s: %s", r, f.victim, why)
		return
	}
	st.whole = append(st.whole, whole.Seconds())
	for _, n := range c.insts {
		if bad := c.l.checkWriter(n, marks[n], 90*time.Second); bad != "" {
			c.violation(kind, "round %d (%s): %s", r, f.victim, bad)
		}
	}
	if n := c.unneededFences(f); n != "" {
		st.unneededFences++
		c.note("round %d (%s %s): %s", r, kind, f.victim, n)
	}
	op := "-"
	if c.opsEvery > 0 && r%c.opsEvery == 0 {
		op = c.operate()
	}
	c.rounds++
	c.took = append(c.took, time.Since(began).Seconds())
	t.Logf("chaos-vm round %d: %s %s: detected +%s, fenced +%s, failed over +%s, whole again +%.1f s; op %s; round %.0f s; load %s",
		r, kind, f.victim, secs(f.detect), secs(f.fence), secs(f.failover), whole.Seconds(), op, time.Since(began).Seconds(), loadAvg())
}

func secs(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// finish: the sampler's verdict and every job final.
func (c *chaosRun) finish() {
	samples, bad := c.watch.finish()
	c.note("copy sampler: %d samples of every node's domains and DRBD roles, %d with two running copies", samples, len(bad))
	for _, b := range bad {
		c.violation("sampler", "two running copies: %s", b)
	}
	var open []string
	var total int
	var err error
	if _, ok := within(120*time.Second, func() bool {
		open, total, err = c.l.unfinishedJobs()
		return err == nil && len(open) == 0
	}); !ok {
		c.violation("jobs", "not final 120 s after the last fault: %v (%v)", open, err)
	}
	c.note("jobs: %d in all, %d not final", total, len(open))
}

// report prints the table (also when the run stopped early).
func (c *chaosRun) report() {
	t := c.l.t
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s %5s  %-13s %-13s %-13s %-13s %5s %8s\n", "fault", "count", "detect p50/max", "fenced p50/max",
		"failover p50/max", "whole p50/max", "viol", "unneeded")
	kinds := make([]string, 0, len(c.stats))
	for k := range c.stats {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	total, viol := 0, 0
	for _, k := range kinds {
		s := c.stats[k]
		total += s.count
		viol += s.violations
		fmt.Fprintf(&b, "%-13s %5d  %-13s %-13s %-13s %-13s %5d %8d\n", k, s.count, p50max(s.detect), p50max(s.fence),
			p50max(s.failover), p50max(s.whole), s.violations, s.unneededFences)
	}
	var ops []string
	for k, n := range c.ops {
		ops = append(ops, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(ops)
	took := slices.Clone(c.took)
	slices.Sort(took)
	per := "-"
	if len(took) > 0 {
		per = fmt.Sprintf("p50 %.0f s, max %.0f s", percentile(took, 50), took[len(took)-1])
	}
	t.Logf("chaos-vm table (%d faults, %d rounds done in %.1f min, per round %s; operations: %s; failed operations %d; violations %d; load %s):\n%s%s",
		total, c.rounds, time.Since(c.t0).Minutes(), per, strings.Join(ops, ", "), len(c.opsBad), viol, loadAvg(), b.String(),
		strings.Join(append(append([]string{}, c.opsBad...), c.viol...), "\n"))
}

func p50max(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return fmt.Sprintf("%.1f/%.1f", percentile(s, 50), s[len(s)-1])
}
