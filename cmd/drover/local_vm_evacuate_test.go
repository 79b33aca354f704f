package main

// Moving DRBD disks and instances through the master, on four node guests
// (DRBD 9 from the lab kit; 8.4 without it, where the two-copies check does
// not apply and the test says so):
//  1. six drbd instances (workload driver): a1..a3 with their primary on
//     node1, b1..b3 with their secondary there; a3 stopped.
//  2. node evacuate node1: ONE job; afterwards no record names node1, every
//     copy is UpToDate, the running instances go on acknowledging records.
// (replace-disks -n sampled from events2 is TestVMNodesReplaceSecondary9's;
// a secondary killed and back with verify-disks healthy is runVMDRBD's.)
// Runtime: 4 minutes on the project's 2 shared cores at load ~6 (the job
// 112 s), 12 minutes at load 14-24 (guests 58 s, six adds 239 s, job 417 s).

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

func TestVMNodesEvacuate(t *testing.T) {
	needVMNodes(t)
	version, kit := "9", labKit()
	if kit == "" {
		t.Log("no lab kit (kit-KVER with drbd9/; set DROVER_VM_KIT): DRBD 8.4, without the DRBD 9 two-copies check")
		version = "8.4"
	}
	for _, verb := range []string{"failover", "migrate"} {
		// The primaries move by the opcodes of the failover and migration work.
		if out, err := exec.Command(droverBin, "instance", verb, "--help").CombinedOutput(); err != nil {
			realtest.Optional(t, "instance %s is not in this build: %v: %s", verb, err, out)
		}
	}
	// Default memory (384 MiB). Nothing here fails a node: a lease of 30 s
	// (not 10) keeps a guest starved by a loaded machine from losing it and
	// fencing itself in the middle of a move.
	l := startVMLabN(t, version, kit, 4, "--node-lease-ttl", "30")
	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "")
	l.mustCLI("template", "import", "tiny", tarball)
	add := func(name, nodes string) {
		args := []string{"instance", "add", "-t", "drbd", "-n", nodes, "--disk", "16M", "-H", "workload", "--no-install",
			"-o", "tiny", "-B", "vcpus=1,memory=32M", name}
		for try := 1; ; try++ {
			out, errOut, code := l.localCluster.cli(nil, args...)
			// Refused at submit (nothing made) when a loaded guest's agent
			// could not read its volume group in time: try again.
			if code == 0 || try == 3 || !strings.Contains(errOut, "cannot read its volume group") {
				if code != 0 {
					t.Fatalf("drover %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
				}
				return
			}
			t.Logf("instance add %s refused (try %d): %s", name, try, strings.TrimSpace(errOut))
			time.Sleep(10 * time.Second)
		}
	}
	t0 := time.Now()
	for i, n := range []string{"node2", "node3", "node4"} {
		add(fmt.Sprintf("a%d", i+1), "node1:"+n)
		add(fmt.Sprintf("b%d", i+1), n+":node1")
	}
	t.Logf("six drbd instances added in %.1f s", time.Since(t0).Seconds())
	l.mustCLI("instance", "shutdown", "a3")
	for _, n := range []string{"a1", "a2", "b1"} {
		inst := l.instRecord(n)
		waitFor(t, 120*time.Second, "acknowledged records of "+n, func() bool { return l.lastAck(inst.PrimaryNode, inst) >= 5 })
	}

	// 2. node evacuate: one job.
	t1 := time.Now()
	job := l.jobOf("node", "evacuate", "node1")
	evac := time.Since(t1)
	if len(job.Ops) < 7 || job.Ops[0].Kind != api.OpNodeEvacuate {
		t.Fatalf("evacuation job: %d opcodes (first %s)", len(job.Ops), job.Ops[0].Kind)
	}
	var kinds []string
	for _, o := range job.Ops {
		kinds = append(kinds, o.Kind)
	}
	t.Logf("node evacuate node1 (3 primaries, 3 secondaries): ONE job %d of %d opcodes %v in %.1f s:\n%s",
		job.ID, len(job.Ops), kinds, evac.Seconds(), jobLog(job))
	for _, n := range []string{"a1", "a2", "a3", "b1", "b2", "b3"} {
		r := l.instRecord(n)
		for _, d := range r.Disks {
			for _, p := range allDRBDNodes(d.DRBD) {
				if p.Node == "node1" || r.PrimaryNode == "node1" {
					t.Errorf("%s still on node1 after the evacuation: primary %s, disk nodes %+v", n, r.PrimaryNode, d.DRBD)
				}
			}
		}
		l.waitSynced(r)
	}
	for _, n := range []string{"a1", "a2", "b1"} {
		inst := l.instRecord(n)
		before := l.lastAck(inst.PrimaryNode, inst)
		waitFor(t, 60*time.Second, n+" acknowledging on "+inst.PrimaryNode, func() bool { return l.lastAck(inst.PrimaryNode, inst) > before })
	}
}

func allDRBDNodes(dd *keys.DRBDDisk) []keys.DRBDNode {
	if dd == nil {
		return nil
	}
	return append(append([]keys.DRBDNode(nil), dd.Nodes...), dd.Leaving...)
}

// instRecord reads instance name's record from etcd.
func (l *vmLab) instRecord(name string) keys.InstanceRecord {
	l.t.Helper()
	r, err := l.cli.Get(ctx30(l.t), keys.InstanceKey(name))
	if err != nil || len(r.Kvs) == 0 {
		l.t.Fatalf("instance %s: %v", name, err)
	}
	var rec keys.InstanceRecord
	if err := json.Unmarshal(r.Kvs[0].Value, &rec); err != nil {
		l.t.Fatal(err)
	}
	return rec
}

// waitSynced waits until both copies of every disk of rec are UpToDate and
// connected, as the agents publish it.
func (l *vmLab) waitSynced(rec keys.InstanceRecord) {
	l.t.Helper()
	for _, d := range rec.Disks {
		p, s := d.DRBD.Nodes[0].Node, d.DRBD.Nodes[1].Node
		waitFor(l.t, 180*time.Second, d.DRBD.Resource+" in sync on "+p+" and "+s, func() bool {
			a, _ := l.drbdState(p, d.DRBD.Resource)
			b, _ := l.drbdState(s, d.DRBD.Resource)
			return a.Disk == "UpToDate" && b.Disk == "UpToDate" && connectedTo(b, p) && connectedTo(a, s)
		})
	}
}
