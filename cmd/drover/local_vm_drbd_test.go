package main

// The master side of DRBD on real DRBD 8.4 and 9 in node guests, through
// the CLI as a user drives it, on one `local up --vm-nodes 2`:
//  1. instance add -t drbd -n node1:node2 (workload driver, --no-install):
//     both sides created, first sync waited for in the job (progress in
//     its log); instance info and node info show the resource.
//  2. instance failover: the workload stops on node1 and continues on node2
//     after the highest record on node2's copy; every record node1's
//     workload acknowledged (its final count, read after the stop) is
//     there, intact (the workload verifies what it continues after).
//     Then instance migrate node2 -> node1 -> node2 (live, drbd window):
//     two primaries only inside the window (events2 state sampled), the
//     target's workload continues right after the source's last record.
//  3. grow-disk by 32 MiB: both LVs, drbdadm resize, the new part synced.
//  4. the secondary (node1) guest is killed and booted again: cluster
//     verify reports the disk degraded meanwhile; the leader brings the
//     resource back up there as secondary (drbd-rejoin), it resyncs,
//     nothing is started on node1, cluster verify is clean again and
//     cluster verify-disks reports the disk healthy.
//  5. the primary (node2) is cut off its link: it fences itself, its BMC
//     powers it off, and the leader's failover controller promotes node1
//     (not forced: UpToDate) and starts mirror1 there by itself; the
//     records the host saw acknowledged are there. (Failover refused for a primary that is only unreachable:
//     TestDRBDFailoverRefusals in master.)
//  6. instance remove frees both sides.
// Runtime: 4-8 minutes per DRBD version on the project's 2 shared cores
// (mostly TCG guests booting).

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

func runVMDRBD(t *testing.T, version, kit string) {
	l := startVMLab(t, version, kit)
	for _, n := range []string{"node1", "node2"} {
		info := l.mustCLI("node", "info", n)
		if !strings.Contains(info, "DRBD: "+version) || !regexp.MustCompile(`Volume group: drover, \d+ MiB, \d+ MiB free`).MatchString(info) {
			t.Fatalf("node info %s lacks DRBD %s or the volume group:\n%s", n, version, info)
		}
	}
	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "")
	l.mustCLI("template", "import", "tiny", tarball)

	// 1. add.
	t0 := time.Now()
	out := l.jobCLI("instance", "add", "-t", "drbd", "-n", "node1:node2", "--disk", "64M", "-H", "workload", "--no-install",
		"-o", "tiny", "-B", "vcpus=1,memory=32M", "mirror1")
	addTime := time.Since(t0)
	if !strings.Contains(out, "disks of mirror1 in sync after") || !strings.Contains(out, "DRBD resource mirror1-d0, port 11000") {
		t.Fatalf("instance add output lacks the allocation or the sync:\n%s", out)
	}
	t.Logf("DRBD %s: instance add -t drbd (64 MiB, both sides, first sync, start): %.1f s\n%s", version, addTime.Seconds(), out)
	info := l.mustCLI("instance", "info", "mirror1")
	for _, re := range []string{`Secondary nodes: node2`, `drbd resource mirror1-d0, port 11000`,
		`node1: minor 0, Primary, disk UpToDate, peer disk UpToDate, Connected, \S+, 100.0% in sync`,
		`node2: minor 0, Secondary, disk UpToDate, peer disk UpToDate, Connected, \S+, 100.0% in sync`} {
		if !regexp.MustCompile(re).MatchString(info) {
			t.Fatalf("instance info lacks %q:\n%s", re, info)
		}
	}
	if ni := l.mustCLI("node", "info", "node2"); !strings.Contains(ni, "mirror1-d0: minor 0, Secondary, disk UpToDate") {
		t.Errorf("node info node2 does not show the resource:\n%s", ni)
	}
	inst := l.record("mirror1")
	waitFor(t, 120*time.Second, "acknowledged records of the workload on node1", func() bool { return l.lastAck("node1", inst) >= 20 })

	// 2. failover.
	t1 := time.Now()
	out = l.jobCLI("instance", "failover", "-f", "mirror1")
	failTime := time.Since(t1)
	final := l.finalAck("node1", inst)
	from := l.continuedFrom(t, "node2", l.record("mirror1"), "/dev/drbd0")
	if from-1 < final {
		t.Fatalf("after failover node2's copy holds records up to %d, node1's workload acknowledged %d", from-1, final)
	}
	t.Logf("DRBD %s: instance failover node1 -> node2: %.1f s; node1 acknowledged %d records, node2 continues from %d\n%s",
		version, failTime.Seconds(), final, from, out)
	if info := l.mustCLI("instance", "info", "mirror1"); !strings.Contains(info, "Primary node: node2") || !strings.Contains(info, "Secondary nodes: node1") {
		t.Fatalf("instance info after failover:\n%s", info)
	}

	// 2b. live migration there and back (local_vm_migrate_test.go): two
	// primaries only inside the window, one writer after the other.
	l.migrateChecked(version, "mirror1", "node2", "node1")
	l.migrateChecked(version, "mirror1", "node1", "node2")

	// 3. grow-disk.
	t2 := time.Now()
	out = l.jobCLI("instance", "grow-disk", "mirror1", "0", "32M")
	waitFor(t, 30*time.Second, "both sides reporting the grown device", func() bool {
		a, _ := l.drbdState("node1", "mirror1-d0")
		b, _ := l.drbdState("node2", "mirror1-d0")
		return a.SizeKiB > 64<<10 && b.SizeKiB > 64<<10 && synced(b, "Primary") && synced(a, "Secondary")
	})
	t.Logf("DRBD %s: grow-disk +32 MiB (both LVs, resize, sync): %.1f s\n%s", version, time.Since(t2).Seconds(), out)

	// 4. the secondary dies and comes back.
	fenceable := strings.Contains(l.mustCLI("node", "info", "node1"), "Fence device:")
	if err := syscall.Kill(l.pid("node1"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "node1 down", func() bool { return nodeDown(l.nodeStatus()["node1"]) })
	waitFor(t, 30*time.Second, "cluster verify reporting the degraded disk", func() bool {
		v, _, _ := l.localCluster.cli(nil, "cluster", "verify")
		return strings.Contains(v, "EDRBDDEGRADED") && strings.Contains(v, "mirror1")
	})
	if fenceable {
		// Its BMC powers it off (it is off already); booted before that,
		// the guest would be the one powered off.
		waitFor(t, 120*time.Second, "node1 fenced", func() bool { st := l.nodeStatus()["node1"]; return st == "fenced" || st == "offline" })
	}
	acked := l.lastAck("node2", l.record("mirror1"))
	t3 := time.Now()
	l.mustCLI("local", "start", "--dir", l.dir, "node1")
	waitFor(t, 240*time.Second, "node1 back online", func() bool { return l.nodeStatus()["node1"] == "online" })
	boot := time.Since(t3)
	var p, s keys.DRBDResource
	waitFor(t, 180*time.Second, "node1 rejoined as secondary and resynced", func() bool {
		p, _ = l.drbdState("node2", "mirror1-d0")
		s, _ = l.drbdState("node1", "mirror1-d0")
		return synced(p, "Primary") && synced(s, "Secondary")
	})
	t.Logf("DRBD %s: node1 killed and booted: online after %.1f s, resynced after %.1f s", version, boot.Seconds(), time.Since(t3).Seconds())
	if a := l.lastAck("node2", l.record("mirror1")); a <= acked {
		t.Errorf("the workload on node2 stopped acknowledging while node1 was away (%d, then %d)", acked, a)
	}
	if d := l.domainOn("node1", "mirror1"); d == keys.DomainRunning {
		t.Errorf("node1 runs mirror1 after its restart (it must start nothing)")
	}
	waitFor(t, 30*time.Second, "cluster verify clean of DRBD findings", func() bool {
		v, _, _ := l.localCluster.cli(nil, "cluster", "verify")
		return !strings.Contains(v, "DRBD")
	})
	var vd api.VerifyDisksResult
	if err := json.Unmarshal(l.jobOf("cluster", "verify-disks").Result, &vd); err != nil || vd.Healthy != 1 || len(vd.Problems)+len(vd.Syncing) != 0 {
		t.Errorf("verify-disks after node1 resynced: %+v %v", vd, err)
	}
	t.Logf("DRBD %s: cluster verify-disks after the restart: healthy %d, reconnected %d", version, vd.Healthy, len(vd.Reconnected))

	// 5. the primary is cut off; marked offline, failover promotes node1.
	acked = l.lastAck("node2", l.record("mirror1"))
	vn, _ := newVMNet(l.dir, "198.18.1")
	if out, err := exec.Command("ip", "-n", vn.NS, "link", "set", vn.tap(2), "down").CombinedOutput(); err != nil {
		t.Fatalf("cut node2: %v: %s", err, out)
	}
	t4 := time.Now()
	// The leader fences node2 through its BMC and its failover controller
	// moves mirror1 to node1 by itself (no operator command).
	waitFor(t, 240*time.Second, "mirror1 failed over to node1 by the leader", func() bool {
		return l.record("mirror1").PrimaryNode == "node1" && l.domainOn("node1", "mirror1") == keys.DomainRunning
	})
	l.mustCLI("node", "modify", "--offline", "yes", "node2") // for the remove below
	from = l.continuedFrom(t, "node1", l.record("mirror1"), "/dev/drbd0")
	if from-1 < acked {
		t.Fatalf("after the failover from the cut node2, node1's copy holds records up to %d; the host saw %d acknowledged", from-1, acked)
	}
	t.Logf("DRBD %s: automatic failover from the cut-off node2 to node1: %.1f s; %d acknowledged before the cut, node1 continues from %d",
		version, time.Since(t4).Seconds(), acked, from)

	// 6. remove: node2 is offline, node1's side goes.
	l.mustCLI("instance", "remove", "-f", "mirror1")
	waitFor(t, 30*time.Second, "mirror1-d0 gone from node1", func() bool {
		_, found := l.drbdState("node1", "mirror1-d0")
		return !found
	})
}

// jobCLI runs a drover command that follows a job and returns its output
// with the job's log (on stderr).
func (l *vmLab) jobCLI(args ...string) string {
	l.t.Helper()
	out, errOut, code := l.localCluster.cli(nil, args...)
	if code != 0 {
		l.t.Fatalf("drover %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out + errOut
}

// record reads instance name's record from etcd.
func (l *vmLab) record(name string) keys.InstanceRecord {
	l.t.Helper()
	r, err := l.cli.Get(ctx30(l.t), keys.InstanceKey(name))
	if err != nil || len(r.Kvs) == 0 {
		l.t.Fatalf("record of %s: %v", name, err)
	}
	var rec keys.InstanceRecord
	if err := json.Unmarshal(r.Kvs[0].Value, &rec); err != nil {
		l.t.Fatal(err)
	}
	return rec
}

var stoppedRE = regexp.MustCompile(`(?m)^workload: stopped after record (\d+)`)

// finalAck is the last record the stopped workload on node acknowledged.
func (l *vmLab) finalAck(node string, inst keys.InstanceRecord) int {
	l.t.Helper()
	text := l.console(node, inst)
	m := stoppedRE.FindAllStringSubmatch(text, -1)
	if len(m) == 0 {
		l.t.Fatalf("the workload on %s did not report its stop:\n%s", node, text)
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// continuedFrom waits for the workload on node to write to dev and returns
// the record it continued from, after checking that it found every record
// before it intact.
func (l *vmLab) continuedFrom(t *testing.T, node string, inst keys.InstanceRecord, dev string) int {
	t.Helper()
	re := regexp.MustCompile(`writing records to ` + regexp.QuoteMeta(dev) + ` from (\d+)`)
	var text string
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(time.Second) {
		text = l.console(node, inst)
		if m := re.FindAllStringSubmatch(text, -1); m != nil {
			from, _ := strconv.Atoi(m[len(m)-1][1])
			if !strings.Contains(text, fmt.Sprintf("records up to %d intact", from-1)) {
				t.Fatalf("the workload on %s did not find records 1..%d intact:\n%s", node, from-1, text)
			}
			return from
		}
		if time.Now().After(deadline) {
			st, _ := l.drbdState(node, inst.Disks[0].DRBD.Resource)
			t.Fatalf("the workload on %s did not start writing to %s in 120 s; DRBD there %+v; its console:\n%s", node, dev, st, text)
		}
	}
}

// domainOn is the state node publishes of instance's domain ("" = none).
func (l *vmLab) domainOn(node, inst string) string {
	r, err := l.cli.Get(ctx30(l.t), keys.NodeDomainKey(node, inst))
	if err != nil || len(r.Kvs) == 0 {
		return ""
	}
	var d keys.DomainStatus
	_ = json.Unmarshal(r.Kvs[0].Value, &d)
	return d.State
}
