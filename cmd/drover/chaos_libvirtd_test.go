package main

// Fault test of a node's libvirtd (issue 9, point 6: "kill -9 of libvirtd
// where one runs"): `local up --hypervisor kvm`, one master and two nodes,
// each agent on its own private libvirtd (supervised, as systemd does in
// production) with QEMU/TCG guests that count on their consoles. Rounds of
// kill -9 of a random node's libvirtd while a job on that node is in
// flight (a live migration away from it, a shutdown or a start, or none).
// Checkers: no node is ever anything but online (no fence, no failover),
// every instance's guest runs exactly once (one QEMU process, the same one
// unless the round's job legitimately replaced it, on the node drover names),
// every job ends (succeeded, or failed with an error and the instance
// consistent on one node), no count of a guest is printed on two nodes'
// consoles (two copies ran after a move), the agent reconnects. In the
// default suite 6 rounds with a migration in flight; DROVER_LVCHAOS_ROUNDS=N
// runs N rounds of every kind (DROVER_LVCHAOS_KINDS=migrate,... only those);
// scripts/chaos-libvirtd.sh runs 30 and prints the table.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/procfs"
)

var lvChaosNet = cmp.Or(os.Getenv("DROVER_LVCHAOS_NET"), "127.0.2")

// guestProc is one QEMU process of a local cluster's instance.
type guestProc struct {
	pid  int
	node string // whose storage directory its disk is in ("" diskless)
}

// qemuGuests lists the QEMU processes of the cluster in dir by instance
// name (libvirt names the guest on the command line: -name guest=NAME,...).
func qemuGuests(dir string) map[string][]guestProc {
	storage := filepath.Join(dir, "storage") + "/"
	out := map[string][]guestProc{}
	for _, pid := range procfs.PIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !processAlive(pid) {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "qemu-system") || !strings.Contains(string(b), storage) {
			continue
		}
		var name, node string
		for i, a := range args {
			if a == "-name" && i+1 < len(args) {
				name, _, _ = strings.Cut(strings.TrimPrefix(args[i+1], "guest="), ",")
			}
			if j := strings.Index(a, storage); j >= 0 && node == "" {
				node, _, _ = strings.Cut(a[j+len(storage):], "/")
			}
		}
		if name != "" {
			out[name] = append(out[name], guestProc{pid: pid, node: node})
		}
	}
	return out
}

// nodesJSON is `node list` as the API returns it.
func (lc *localCluster) nodesJSON() []api.Node {
	out, _, code := lc.cli(nil, "--output", "json", "node", "list")
	var ns []api.Node
	if code != 0 || json.Unmarshal([]byte(out), &ns) != nil {
		return nil
	}
	return ns
}

// lvRound is one libvirtd kill.
type lvRound struct {
	node, job, inst string
	reconnect       time.Duration // kill -> the agent's hypervisor_connected
	hvOK            time.Duration // kill -> node list says hv_ok again
	jobState        string
}

func TestChaosLibvirtdKill(t *testing.T) {
	// The default suite's short variant: 6 rounds with a live migration
	// in flight (about a minute here; docs/ha.md, "kill -9 of a node's
	// libvirtd"). DROVER_LVCHAOS_ROUNDS=N runs N rounds of every job kind.
	v := os.Getenv("DROVER_LVCHAOS_ROUNDS")
	kindsEnv := os.Getenv("DROVER_LVCHAOS_KINDS")
	if v == "" {
		v = "6"
		if kindsEnv == "" {
			kindsEnv = "migrate"
		}
	}
	rounds, err := strconv.Atoi(v)
	if err != nil || rounds < 1 {
		t.Fatalf("DROVER_LVCHAOS_ROUNDS=%q", v)
	}
	// DROVER_LVCHAOS_KINDS=migrate,... draws only those jobs (a stopped
	// instance is still started).
	var only map[string]bool
	if kindsEnv != "" {
		only = map[string]bool{}
		for _, k := range strings.Split(kindsEnv, ",") {
			only[strings.TrimSpace(k)] = true
		}
	}
	needLibvirtd(t)
	hvtest.NeedBinaries(t, "qemu-system-x86_64")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 9))
	t.Logf("lvchaos: %d rounds, seed %d", rounds, seed)
	kernel, initrd := hvtest.Kernel(t), hvtest.CountingInitramfs(t)
	began := time.Now()
	lc := startLocal(t, 1, 2, lvChaosNet, "--hypervisor", "kvm")
	nodes := []string{"node1", "node2"}
	waitFor(t, 90*time.Second, "both nodes online", func() bool {
		st := lc.nodeStatus()
		return st["node1"] == "online" && st["node2"] == "online"
	})
	tarball := filepath.Join(t.TempDir(), "counting.tar.gz")
	writeBootTemplate(t, tarball, kernel, initrd)
	lc.mustCLI("template", "import", "counting", tarball)
	insts := []string{"vm1", "vm2"}
	for i, n := range insts {
		lc.mustCLI("instance", "add", "-t", "file", "--disk", "64M", "-o", "counting", "-n", nodes[i], "-H", "kvm", "-B", "vcpus=1,memory=128M", n)
	}
	waitFor(t, 3*time.Minute, "both guests counting", func() bool {
		for _, n := range insts {
			o, _, code := lc.cli(nil, "instance", "console", n)
			if c, _ := lastCount(o); code != 0 || c < 1 {
				return false
			}
		}
		return true
	})
	t.Logf("lvchaos: cluster up, guests counting, %s after local up", time.Since(began).Round(time.Second))

	var violations []string
	seen := map[string]bool{} // a lasting problem is sampled many times: once
	violate := func(f string, a ...any) {
		v := fmt.Sprintf(f, a...)
		if seen[v] {
			return
		}
		seen[v] = true
		violations = append(violations, v)
		t.Errorf("lvchaos violation: %s", v)
	}
	primary := func(inst string) string {
		return strings.TrimSpace(lc.mustCLI("instance", "list", "--no-headers", "-o", "pnode", inst))
	}
	want := map[string]int{} // instance -> the QEMU pid that must run, 0 none
	for _, n := range insts {
		g := qemuGuests(lc.dir)[n]
		if len(g) != 1 || g[0].node != primary(n) {
			t.Fatalf("%s: QEMU processes %v, primary %s", n, g, primary(n))
		}
		want[n] = g[0].pid
	}
	// printed: by instance, which node's console log printed each count
	// of the guest's current boot. A count printed on two nodes means the
	// guest's state forked: two copies ran after a move (its processes
	// alone cannot tell, a paused copy is a process too). Each log is read
	// on from where the last sample stopped (from its start when the file
	// is new), so the counts of earlier boots in a log are not taken for
	// this one's.
	printed := map[string]map[int]string{}
	type logPos struct {
		ino uint64
		off int64
	}
	read := map[string]logPos{}
	forks := func(round int) {
		for _, inst := range insts {
			if printed[inst] == nil {
				printed[inst] = map[int]string{}
			}
			for _, node := range nodes {
				p := filepath.Join(lc.dir, "storage", node, "instances", inst, "console.log")
				var st syscall.Stat_t
				if syscall.Stat(p, &st) != nil {
					delete(read, p)
					continue
				}
				pos := read[p]
				if pos.ino != st.Ino || st.Size < pos.off {
					pos = logPos{ino: st.Ino}
				}
				b, err := os.ReadFile(p)
				if err != nil || int64(len(b)) < pos.off {
					continue
				}
				chunk := b[pos.off:]
				chunk = chunk[:bytes.LastIndexByte(chunk, '\n')+1]
				pos.off += int64(len(chunk))
				read[p] = pos
				for _, m := range countRE.FindAllStringSubmatch(string(chunk), -1) {
					c, _ := strconv.Atoi(m[1])
					if was, ok := printed[inst][c]; ok && was != node {
						violate("round %d: %s printed count %d on %s and on %s: two copies ran (%s)", round, inst, c, was, node, consoleEvidence(lc.dir, nodes, inst))
					}
					printed[inst][c] = node
				}
			}
		}
	}
	// check samples the node states and the guests: moving is the
	// instance a job may legitimately replace in this round.
	check := func(round int, moving string) {
		forks(round)
		for _, n := range lc.nodesJSON() {
			if n.Status != api.NodeOnline {
				violate("round %d: node %s is %s", round, n.Name, n.Status)
			}
		}
		g := qemuGuests(lc.dir)
		for _, n := range insts {
			if n == moving {
				if len(g[n]) > 2 {
					violate("round %d: %s has %d QEMU processes %v", round, n, len(g[n]), g[n])
				}
				continue
			}
			if want[n] == 0 {
				if len(g[n]) != 0 {
					violate("round %d: %s should not run, QEMU %v", round, n, g[n])
				}
			} else if len(g[n]) != 1 || g[n][0].pid != want[n] {
				violate("round %d: %s: QEMU %v, want only pid %d", round, n, g[n], want[n])
			}
		}
	}

	uris := lc.virshURIs()
	cycled := map[string]bool{} // shut down and started again: booted anew
	var rs []lvRound
	for r := 1; r <= rounds; r++ {
		// The job in flight: on the instance of the node whose libvirtd dies.
		inst := insts[rng.IntN(len(insts))]
		node := primary(inst)
		other := others(nodes, node)[0]
		kinds := []string{"none", "migrate"}
		if want[inst] == 0 {
			kinds = []string{"startup"}
		} else {
			kinds = append(kinds, "shutdown")
		}
		if only != nil {
			if k := slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return !only[k] }); len(k) > 0 {
				kinds = k
			}
		}
		kind := kinds[rng.IntN(len(kinds))]
		var args []string
		switch kind {
		case "migrate":
			args = []string{"instance", "migrate", "-n", other, inst}
		case "shutdown":
			args = []string{"instance", "shutdown", "--timeout", "5s", inst}
			cycled[inst] = true
		case "startup":
			args = []string{"instance", "startup", inst}
			printed[inst] = nil // a new boot counts from 1 again
		}
		job := ""
		if args != nil {
			// Flags go before the instance's name.
			args = append(append(args[:len(args)-1:len(args)-1], "--submit"), inst)
			o, e, code := lc.cli(nil, args...)
			if code != 0 {
				t.Fatalf("round %d: %v: exit %d %s%s", r, args, code, o, e)
			}
			job = strings.TrimSpace(o)
			// A live migration here takes 5-10 s (the disk copy first, the
			// memory last): the kill lands anywhere in it, its end too.
			delay := 3000
			if kind == "migrate" {
				delay = 10000
			}
			time.Sleep(time.Duration(rng.IntN(delay)) * time.Millisecond)
		}
		pidFile := filepath.Join(nodeDaemonDir(lc.dir, slices.Index(nodes, node)+1), "libvirtd.pid")
		old, err := readPid(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill -9 libvirtd %d of %s: %v", r, old, node, err)
		}
		killed := time.Now()
		moving := ""
		if kind != "none" {
			moving = inst
		}
		var rd lvRound
		rd.node, rd.job, rd.inst = node, kind, inst
		rd.hvOK = waitFor(t, 90*time.Second, fmt.Sprintf("round %d: %s's agent reconnected, hv_ok", r, node), func() bool {
			check(r, moving)
			if p, err := readPid(pidFile); err != nil || p == old {
				return false
			}
			var ok bool
			for _, n := range lc.nodesJSON() {
				ok = ok || (n.Name == node && n.HypervisorOK)
			}
			for _, at := range lc.logTimes(node, `msg=hypervisor_connected`) {
				if at.After(killed) {
					return ok
				}
			}
			return false
		})
		for _, at := range lc.logTimes(node, `msg=hypervisor_connected`) {
			if at.After(killed) {
				rd.reconnect = at.Sub(killed)
				break
			}
		}
		rd.jobState = "-"
		if job != "" {
			for {
				var j api.Job
				o, _, code := lc.cli(nil, "--output", "json", "job", "info", job)
				if code == 0 && json.Unmarshal([]byte(o), &j) == nil && j.State.Finished() {
					rd.jobState = string(j.State)
					// A move whose migrate-source failed was settled on
					// the source (docs/migration.md): say which way.
					for _, l := range j.Log {
						switch {
						case strings.Contains(l.Message, "the move went through"):
							rd.jobState += " (settled: went through)"
						case strings.Contains(l.Message, "the move is reverted"):
							rd.jobState += " (settled: reverted)"
						}
					}
					if j.State != api.JobSuccess {
						msg := ""
						if j.Error != nil {
							msg = j.Error.Message
						}
						t.Logf("lvchaos round %d: %s job %s ended %s: %s", r, kind, job, j.State, msg)
						if msg == "" {
							violate("round %d: job %s %s without an error", r, job, j.State)
						}
					}
					break
				}
				if time.Since(killed) > 5*time.Minute {
					violate("round %d: job %s not final after 5 minutes", r, job)
					break
				}
				check(r, moving)
				time.Sleep(200 * time.Millisecond)
			}
		}
		// Whatever the job's outcome: the instance runs (or not) on exactly
		// one node, the one drover names, and the libvirtds agree.
		if moving != "" {
			waitFor(t, 2*time.Minute, fmt.Sprintf("round %d: %s settled", r, inst), func() bool {
				g := qemuGuests(lc.dir)[inst]
				st := lc.instances()[inst]
				p := primary(inst)
				switch {
				case st == api.InstRunning && len(g) == 1 && g[0].node == p:
					want[inst] = g[0].pid
					return true
				case st == api.InstAdminDown && len(g) == 0:
					want[inst] = 0
					return true
				}
				return false
			})
		}
		check(r, "")
		for _, n := range nodes {
			waitFor(t, time.Minute, fmt.Sprintf("round %d: virsh on %s agrees with drover", r, n), func() bool {
				return lc.agrees(n, uris[n])
			})
		}
		rs = append(rs, rd)
		t.Logf("lvchaos round %d: kill -9 libvirtd of %s (pid %d), job %s on %s: %s; agent reconnected %.2fs, hv_ok %.2fs after the kill",
			r, node, old, kind, inst, rd.jobState, rd.reconnect.Seconds(), rd.hvOK.Seconds())
	}

	// The guests never booted twice: each running one's counter and uptime
	// went on (a migration keeps both).
	for _, n := range insts {
		if want[n] == 0 || cycled[n] {
			continue
		}
		o := lc.mustCLI("instance", "console", n)
		if strings.Count(o, hvtest.GuestMarker+" counting") > 1 {
			violate("%s booted more than once:\n%s", n, o)
		}
	}
	if c := lc.logCount(nodes, `msg=self_fence_`); c > 0 {
		violate("%d self-fence log lines", c)
	}
	restarts := lc.logCount([]string{"libvirtd"}, `msg=libvirtd_restarted`)
	var rec, ok []time.Duration
	for _, rd := range rs {
		rec, ok = append(rec, rd.reconnect), append(ok, rd.hvOK)
	}
	sort.Slice(rec, func(i, j int) bool { return rec[i] < rec[j] })
	sort.Slice(ok, func(i, j int) bool { return ok[i] < ok[j] })
	byJob := map[string]int{}
	for _, rd := range rs {
		byJob[rd.job+"/"+rd.jobState]++
	}
	t.Logf("lvchaos table: kills %d (supervisor restarts %d), jobs in flight %v", len(rs), restarts, byJob)
	t.Logf("lvchaos table: agent reconnect after kill -9: p50 %.2fs max %.2fs; node hv_ok again: p50 %.2fs max %.2fs",
		rec[len(rec)/2].Seconds(), rec[len(rec)-1].Seconds(), ok[len(ok)/2].Seconds(), ok[len(ok)-1].Seconds())
	t.Logf("lvchaos table: %s after local up, %d rounds", time.Since(began).Round(time.Second), len(rs))
	t.Logf("lvchaos table: violations %d (nodes not online, QEMU restarted or twice, jobs not final, disagreement)", len(violations))
}

// agrees reports whether virsh on node's libvirtd shows exactly drover's
// instances of that node, in matching states.
func (lc *localCluster) agrees(node, uri string) bool {
	out, _, code := lc.cli(nil, "instance", "list", "--no-headers", "-o", "name,pnode,status", "--separator", " ")
	if code != 0 {
		return false
	}
	want := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[1] != node {
			continue
		}
		switch f[2] {
		case api.InstRunning:
			want[f[0]] = "running"
		case api.InstAdminDown:
			want[f[0]] = "shut off"
		default:
			want[f[0]] = f[2]
		}
	}
	got, err := virshDomainsErr(uri)
	if err != nil || len(got) != len(want) {
		return false
	}
	for n, s := range want {
		if got[n] != s {
			return false
		}
	}
	return true
}

// consoleEvidence describes instance inst's console logs (inode, size, last
// count) and QEMU processes (pid, node, their log files) for a violation.
func consoleEvidence(dir string, nodes []string, inst string) string {
	var parts []string
	for _, node := range nodes {
		p := filepath.Join(dir, "storage", node, "instances", inst, "console.log")
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			parts = append(parts, node+": no log")
			continue
		}
		b, _ := os.ReadFile(p)
		n, _ := lastCount(string(b))
		parts = append(parts, fmt.Sprintf("%s: log inode %d, %d bytes, last count %d", node, st.Ino, st.Size, n))
	}
	for _, g := range qemuGuests(dir)[inst] {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", g.pid))
		var logs []string
		for _, a := range strings.Split(string(b), "\x00") {
			if i := strings.Index(a, "logfile="); i >= 0 {
				logs = append(logs, a[i:])
			}
		}
		state := ""
		if sb, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.pid)); err == nil {
			state = strings.Fields(string(sb))[2]
		}
		parts = append(parts, fmt.Sprintf("qemu pid %d on %s (%s) %v", g.pid, g.node, state, logs))
	}
	return strings.Join(parts, "; ")
}
