package main

// The disk faults of the node-guest chaos harness (local_vm_chaos_test.go):
// a node's disk, under its volume group and every DRBD lower device,
// becomes slow (dm-delay, 500 ms per read and write) or failing (dm-flakey,
// every read and write an error) for a while, then healthy again (local
// fault --slow-disk|--fail-disk|--heal-disk). A failing disk must be
// detached by DRBD on that node (Diskless), its instances keep running where
// they run (a primary diskless on its peer's disk), shown degraded; a slow
// disk fences nothing. The round's checks then want every instance
// redundant again (the agent attaches the healed disk, it resyncs), every
// writer past its mark and no node fenced.

import (
	"fmt"
	"strings"
	"time"

	"github.com/drover-project/drover/master/keys"
)

// diskHold is how long a disk stays slow or failing (two lease TTLs: long
// enough for a liveness mistake to show).
const diskHold = 20 * time.Second

// diskFault makes a random node's disk slow (kind disk-slow) or failing
// (disk-fail) for diskHold, then heals it.
func (c *chaosRun) diskFault(kind string) faultResult {
	l := c.l
	node := c.nodes[c.rng.IntN(len(c.nodes))]
	f := faultResult{victim: node}
	var onNode []keys.InstanceRecord // tracked instances with a disk on node
	for _, n := range c.insts {
		rec := l.record(n)
		if rec.PrimaryNode == node || secondaryNode(rec) == node {
			onNode = append(onNode, rec)
		}
	}
	flag := map[string]string{"disk-slow": "--slow-disk", "disk-fail": "--fail-disk"}[kind]
	f.t0 = time.Now()
	if out, errOut, code := l.localCluster.cli(nil, "local", "fault", "--dir", l.dir, flag, node); code != 0 {
		f.err = fmt.Sprintf("local fault %s: exit %d %s%s", flag, code, out, errOut)
		return f
	}
	var bad []string
	if kind == "disk-fail" {
		// Detected: every resource on the node detached its disk.
		d, ok := within(90*time.Second, func() bool {
			for _, rec := range onNode {
				if st, _ := l.drbdState(node, rec.Disks[0].DRBD.Resource); st.Disk != "Diskless" {
					return false
				}
			}
			return true
		})
		if !ok {
			var where []string
			for _, rec := range onNode {
				st, _ := l.drbdState(node, rec.Disks[0].DRBD.Resource)
				where = append(where, fmt.Sprintf("%s disk %s", rec.Name, st.Disk))
			}
			bad = append(bad, fmt.Sprintf("%s's failing disk not detached within 90 s: %s", node, strings.Join(where, ", ")))
		}
		f.detect = d
		for _, rec := range onNode {
			if _, ok := within(30*time.Second, func() bool { return l.redundancyOf(rec.Name) == "degraded" }); !ok {
				bad = append(bad, fmt.Sprintf("%s not shown degraded with %s's disk failed (%q)", rec.Name, node, l.redundancyOf(rec.Name)))
			}
		}
	}
	if rest := diskHold - time.Since(f.t0); rest > 0 {
		time.Sleep(rest)
	}
	// Still where they were, and running: a disk fault moves nothing.
	for _, rec := range onNode {
		now := l.record(rec.Name)
		if now.PrimaryNode != rec.PrimaryNode || l.domainOn(now.PrimaryNode, rec.Name) != keys.DomainRunning {
			bad = append(bad, fmt.Sprintf("%s with %s's disk %s: primary %s (was %s), domain %q", rec.Name, node, kind,
				now.PrimaryNode, rec.PrimaryNode, l.domainOn(now.PrimaryNode, rec.Name)))
		}
	}
	if out, errOut, code := l.localCluster.cli(nil, "local", "fault", "--dir", l.dir, "--heal-disk", node); code != 0 {
		bad = append(bad, fmt.Sprintf("local fault --heal-disk: exit %d %s%s", code, out, errOut))
	}
	f.err = strings.Join(bad, "; ")
	return f
}
