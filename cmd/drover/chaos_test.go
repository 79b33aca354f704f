package main

// Fault test of the core (issue 7): a local cluster of real processes, 3
// masters and 3 agents (fake hypervisor) with running instances. Rounds of
// `kill -STOP` of one master at random (the leader or a follower) for 2 x TTL,
// then `kill -CONT`, while jobs are submitted: no agent fences itself, no
// instance is destroyed or restarted, every job ends once. Then `kill -STOP`
// of two masters: every agent fences itself within the TTL and nothing starts
// until the quorum is back. DROVER_CHAOS_ROUNDS sets the rounds (default 4;
// scripts/chaos-core.sh runs 20 and prints the figures).

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/api"
)

const chaosTTL = 5 * time.Second

// chaosNet is the 127.0.x prefix of the chaos cluster's addresses
// (DROVER_CHAOS_NET changes it, so that scripts/chaos-core.sh can run while
// the suite runs the same test).
var chaosNet = cmp.Or(os.Getenv("DROVER_CHAOS_NET"), "127.0.23")

func (lc *localCluster) masterURL(name string) string {
	return fmt.Sprintf("https://%s1.%s:5080", chaosNet, strings.TrimPrefix(name, "m"))
}

// cliVia runs the CLI against the given masters only (a stopped master's
// kernel accepts connections it never answers).
func (lc *localCluster) cliVia(masters []string, args ...string) (string, string, int) {
	var urls []string
	for _, m := range masters {
		urls = append(urls, lc.masterURL(m))
	}
	return lc.cli([]string{"DROVER_API=" + strings.Join(urls, ",")}, args...)
}

// logCount counts the lines of the named processes' logs that match re.
func (lc *localCluster) logCount(names []string, re string) int {
	rx := regexp.MustCompile(re)
	n := 0
	for _, name := range names {
		b, _ := os.ReadFile(filepath.Join(lc.dir, "log", name+".log"))
		n += len(rx.FindAll(b, -1))
	}
	return n
}

// logTimes returns the times of name's log lines that match re.
func (lc *localCluster) logTimes(name, re string) []time.Time {
	rx := regexp.MustCompile(re)
	b, _ := os.ReadFile(filepath.Join(lc.dir, "log", name+".log"))
	var out []time.Time
	for _, l := range strings.Split(string(b), "\n") {
		if !rx.MatchString(l) {
			continue
		}
		if v, ok := strings.CutPrefix(strings.Fields(l + " x")[0], "time="); ok {
			if ts, err := time.Parse(time.RFC3339Nano, v); err == nil {
				out = append(out, ts)
			}
		}
	}
	return out
}

func others(all []string, not ...string) []string {
	var out []string
	for _, a := range all {
		skip := false
		for _, n := range not {
			skip = skip || a == n
		}
		if !skip {
			out = append(out, a)
		}
	}
	return out
}

// boots is how often each instance's fake guest booted (its console).
func (lc *localCluster) boots(via []string, names []string) map[string]int {
	out := map[string]int{}
	for _, n := range names {
		o, _, code := lc.cliVia(via, "instance", "console", n)
		if code == 0 {
			out[n] = strings.Count(o, "fake: boot ")
		}
	}
	return out
}

func TestChaosCoreMasterStalls(t *testing.T) {
	realtest.Short(t, "fault test: 3 masters, 3 agents, SIGSTOP rounds")
	rounds := 4
	if v := os.Getenv("DROVER_CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("DROVER_CHAOS_ROUNDS=%q", v)
		}
		rounds = n
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("chaos: %d rounds, seed %d, TTL %v", rounds, seed, chaosTTL)

	lc := startLocal(t, 3, 3, chaosNet, "--node-lease-ttl", strconv.Itoa(int(chaosTTL/time.Second)))
	masters := []string{"m1", "m2", "m3"}
	agents := []string{"node1", "node2", "node3"}
	allOnline := func(via []string) bool {
		o, _, code := lc.cliVia(via, "node", "list", "--no-headers", "-o", "name,status", "--separator", " ")
		return code == 0 && strings.Count(o, " online") == 3
	}
	waitFor(t, 60*time.Second, "3 nodes online", func() bool { return allOnline(masters) })

	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "chaos")
	lc.mustCLI("template", "import", "tiny", tarball)
	var insts []string
	for i, n := range agents {
		name := fmt.Sprintf("chaos%d", i+1)
		lc.mustCLI("instance", "add", "-t", "diskless", "-o", "tiny", "-n", n, "-B", "vcpus=1,memory=128M", name)
		insts = append(insts, name)
	}
	// The baseline is taken once the instances have settled: the master's
	// abandoned-add cleanup can race with an add that just ended (it
	// destroyed a fresh instance's domain, which the restart watcher then
	// boots again; see the closing note of issue 7), which is not what
	// this test is about.
	allRunning := func() bool {
		st := lc.instances()
		for _, n := range insts {
			if st[n] != "running" {
				return false
			}
		}
		return true
	}
	waitFor(t, 90*time.Second, "instances running", allRunning)
	time.Sleep(5 * time.Second)
	waitFor(t, 90*time.Second, "instances running after settling", allRunning)
	bootsBefore := lc.boots(masters, insts)
	if len(bootsBefore) != len(insts) {
		t.Fatalf("console of the instances: %v", bootsBefore)
	}

	var jobs []string
	submit := func(via []string) {
		o, e, code := lc.cliVia(via, "debug", "delay", "--duration", "1500ms", "--submit")
		if code != 0 {
			t.Errorf("submit via %v: exit %d %s", via, code, e)
			return
		}
		jobs = append(jobs, strings.TrimSpace(o))
	}
	attemptsBefore := lc.logCount(agents, `msg=keepalive_attempt_failed`)
	var recoveries []time.Duration
	leaderStops := 0
	for r := 0; r < rounds; r++ {
		ci, ok := lc.clusterInfo()
		for i := 0; !ok || ci.Leader == ""; i++ {
			if i > 100 {
				t.Fatalf("round %d: no leader", r+1)
			}
			time.Sleep(100 * time.Millisecond)
			ci, ok = lc.clusterInfo()
		}
		victim := masters[rng.IntN(len(masters))]
		role := "follower"
		if victim == ci.Leader {
			role = "leader"
			leaderStops++
		}
		live := others(masters, victim)
		submit(live)
		if err := syscall.Kill(lc.pid(victim), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		time.Sleep(chaosTTL / 2)
		submit(live) // during the stall
		time.Sleep(2*chaosTTL - time.Since(stopped))
		if err := syscall.Kill(lc.pid(victim), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		resumed := time.Now()
		d := waitFor(t, 60*time.Second, "cluster whole again", func() bool {
			ci, ok := lc.clusterInfo()
			if !ok || ci.Leader == "" {
				return false
			}
			for _, m := range ci.Masters {
				if !m.Healthy {
					return false
				}
			}
			return allOnline(masters)
		})
		recoveries = append(recoveries, d)
		fences := lc.logCount(agents, `msg=lease_lost_self_fence`)
		t.Logf("chaos round %d: SIGSTOP %s (%s) for %v; whole again %.2fs after SIGCONT; self-fences so far %d",
			r+1, victim, role, resumed.Sub(stopped).Round(time.Millisecond), d.Seconds(), fences)
		if fences > 0 {
			t.Fatalf("round %d: an agent fenced itself:\n%s", r+1, lc.logs())
		}
	}

	// Every job ended in success, each step done once.
	for _, id := range jobs {
		if o, e, code := lc.cli(nil, "job", "watch", id); code != 0 {
			t.Errorf("job %s: exit %d %s%s", id, code, o, e)
			continue
		}
		var j api.Job
		if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "job", "info", id)), &j); err != nil {
			t.Fatal(err)
		}
		steps := map[string]int{}
		for _, l := range j.Log {
			if strings.HasPrefix(l.Message, "step ") && strings.HasSuffix(l.Message, " done") {
				steps[l.Message]++
			}
		}
		if j.State != api.JobSuccess || len(steps) == 0 || len(steps) != j.OpStatus[0].StepsDone {
			t.Errorf("job %s: state %s, steps %v, steps done %d", id, j.State, steps, j.OpStatus[0].StepsDone)
		}
		for s, n := range steps {
			if n != 1 {
				t.Errorf("job %s: %q logged %d times", id, s, n)
			}
		}
	}
	if got := lc.boots(masters, insts); fmt.Sprint(got) != fmt.Sprint(bootsBefore) {
		t.Errorf("instances booted again: before %v, after %v", bootsBefore, got)
	}
	if n := lc.logCount(agents, `msg=self_fence_`); n > 0 {
		t.Errorf("%d self-fence log lines", n)
	}
	for n, st := range lc.instances() {
		if st != "running" {
			t.Errorf("instance %s is %s", n, st)
		}
	}
	sort.Slice(recoveries, func(i, j int) bool { return recoveries[i] < recoveries[j] })
	t.Logf("chaos figures: rounds %d (leader stopped %d), self-fences 0, instances restarted 0, jobs %d all once; "+
		"keep-alive attempts a stopped member did not answer %d; leases revoked early by a resumed etcd leader and replaced %d; "+
		"recovery after SIGCONT median %.2fs max %.2fs",
		rounds, leaderStops, len(jobs), lc.logCount(agents, `msg=keepalive_attempt_failed`)-attemptsBefore,
		lc.logCount(agents, `msg=lease_revoked_early`), recoveries[len(recoveries)/2].Seconds(), recoveries[len(recoveries)-1].Seconds())

	// Quorum lost: two masters stopped. Every agent fences itself within
	// the TTL; nothing starts while the quorum is gone.
	stop := masters[:2]
	doneBefore := lc.logCount(agents, `msg=command_done`)
	grantsBefore := lc.logCount(agents, `msg=lease_granted`)
	for _, m := range stop {
		if err := syscall.Kill(lc.pid(m), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	lost := time.Now()
	waitFor(t, 3*chaosTTL, "every agent fenced", func() bool {
		for _, a := range agents {
			if len(lc.logTimes(a, `msg=self_fence_done`)) == 0 {
				return false
			}
		}
		return true
	})
	var worst time.Duration
	for _, a := range agents {
		at := lc.logTimes(a, `msg=lease_lost_self_fence`)
		done := lc.logTimes(a, `msg=self_fence_done`)
		if len(at) != 1 || len(done) == 0 {
			t.Fatalf("%s: %d lease losses, %d fences", a, len(at), len(done))
		}
		d := at[0].Sub(lost)
		worst = max(worst, d)
		t.Logf("chaos quorum loss: %s fenced itself %.2fs after the second SIGSTOP (done %.2fs)", a, d.Seconds(), done[0].Sub(lost).Seconds())
		if d > chaosTTL {
			t.Errorf("%s fenced itself %v after the quorum was lost, TTL %v", a, d, chaosTTL)
		}
	}
	time.Sleep(2 * chaosTTL)
	if n := lc.logCount(agents, `msg=command_done`) - doneBefore; n > 0 {
		t.Errorf("%d node commands ran without quorum", n)
	}
	if n := lc.logCount(agents, `msg=lease_granted`) - grantsBefore; n != 0 {
		t.Errorf("%d leases granted without quorum", n)
	}
	for _, m := range stop {
		if err := syscall.Kill(lc.pid(m), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	back := waitFor(t, 60*time.Second, "quorum back, nodes online", func() bool { return allOnline(masters) })
	t.Logf("chaos figures: quorum loss: slowest agent fenced %.2fs after it (TTL %v); nodes online %.2fs after SIGCONT",
		worst.Seconds(), chaosTTL, back.Seconds())
}
