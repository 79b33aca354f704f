package main

// Automatic failover on real DRBD 8.4 in node guests: `local up --vm-nodes
// 2` (BMCs as fence devices), instance add -t drbd -n node1:node2 (workload
// driver), then `local fault --power-off node1`: the leader sees the lease
// expire, fences node1 through its BMC, and its failover controller fails
// mirror1 over to node2 and starts it there, with no operator command; every
// record the host saw acknowledged before the power-off is on node2's copy.
// Runtime: 3-6 minutes on the project's 2 shared cores (TCG guests).

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/master/keys"
)

func TestVMNodesAutoFailover(t *testing.T) {
	l := startVMLab(t, "8.4", labKit())
	tarball := filepath.Join(t.TempDir(), "tiny.tar.gz")
	writeTinyRootfs(t, tarball, "")
	l.mustCLI("template", "import", "tiny", tarball)
	l.jobCLI("instance", "add", "-t", "drbd", "-n", "node1:node2", "--disk", "64M", "-H", "workload", "--no-install",
		"-o", "tiny", "-B", "vcpus=1,memory=32M", "mirror1")
	inst := l.record("mirror1")
	waitFor(t, 120*time.Second, "acknowledged records of the workload on node1", func() bool { return l.lastAck("node1", inst) >= 20 })
	if fi := l.mustCLI("node", "info", "node1"); !strings.Contains(fi, "Fence device: fence_ipmilan") {
		t.Fatalf("node1 has no fence device:\n%s", fi)
	}

	acked := l.lastAck("node1", inst)
	l.mustCLI("local", "fault", "--dir", l.dir, "--power-off", "node1")
	tOff := time.Now()
	waitFor(t, 240*time.Second, "mirror1 running on node2 (failed over by the leader)", func() bool {
		return l.record("mirror1").PrimaryNode == "node2" && l.domainOn("node2", "mirror1") == keys.DomainRunning
	})
	took := time.Since(tOff)
	n1 := l.nodeHealth("node1")
	if n1.Health == nil || n1.Health.LastFence == nil || !n1.Health.LastFence.OK {
		t.Fatalf("mirror1 failed over but node1 has no confirmed fence: %+v", n1.Health)
	}
	from := l.continuedFrom(t, "node2", l.record("mirror1"), "/dev/drbd0")
	if from-1 < acked {
		t.Fatalf("after the automatic failover node2's copy holds records up to %d; the host saw %d acknowledged", from-1, acked)
	}
	t.Logf("power-off node1 -> mirror1 running on node2: %.1f s (host clock; lease TTL 10 s); %d acknowledged before, node2 continues from %d",
		took.Seconds(), acked, from)
	jobs := l.mustCLI("job", "list")
	if c := strings.Count(jobs, "instance.failover"); c != 1 {
		t.Errorf("%d instance.failover jobs, want exactly 1:\n%s", c, jobs)
	}
}
