package master_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/fence/ipmisim"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/master/mastertest/agenttest"
	"github.com/drover-project/drover/nodeagent/hv/fake"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
)

// haChassis is the power of the test's node1 "hardware", a sleep process
// (the agent runs in the test's process and is stopped by the test): off
// kills it, on starts it (shared/lab/stonith-ipmi.sh).
const haChassis = `#!/bin/sh
pidf=$(dirname $0)/hw.pid; op=$1; shift
alive() { [ -f $pidf ] && kill -0 $(cat $pidf) 2>/dev/null; }
start() { setsid sleep 100000 >/dev/null 2>&1 & echo $! > $pidf; }
case $op in
get) for p in "$@"; do case $p in power) alive && echo power:1 || echo power:0;; boot) echo boot:default;; esac; done;;
set) while [ $# -gt 1 ]; do case $1 in
       power) if [ $2 = 0 ]; then alive && kill -9 $(cat $pidf); rm -f $pidf; else alive || start; fi;;
       reset) alive && kill -9 $(cat $pidf); start;;
     esac; shift 2; done;;
esac
exit 0
`

// TestNodeFencedThroughIPMI: node1 has a real fence_ipmilan device (an
// OpenIPMI ipmi_sim BMC), node2 has none and no watchdog. When both agents
// stop (a clean stop disarms the watchdog: never trusted as a self-fence),
// node1 goes online -> unreachable -> suspect -> fencing -> fenced ->
// offline, powered off through the BMC; node2 stays suspect, needing an
// operator. The BMC's password shows nowhere in the API's answers. About
// 20 s.
func TestNodeFencedThroughIPMI(t *testing.T) {
	if err := ipmisim.Check(); err != nil {
		hvtest.SkipOrFail(t, err.Error())
	}
	c := mastertest.Start(t, mastertest.Options{API: true, NodeLeaseTTL: 2})
	m := c.Masters[c.WaitLeader(30*time.Second)].M
	a1 := agenttest.Start(t, m, "node1", fake.New(fake.Options{CPUs: 2, MemoryMiB: 2048}))
	a2 := agenttest.Start(t, m, "node2", fake.New(fake.Options{CPUs: 2, MemoryMiB: 2048}))
	cl := haClient(t, c, m)

	dir := hvtest.ShortTempDir(t)
	prog := filepath.Join(dir, "chassis.sh")
	if err := os.WriteFile(prog, []byte(haChassis), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(prog, "set", "power", "1").CombinedOutput(); err != nil {
		t.Fatalf("power on the hardware: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(prog, "set", "power", "0").Run() })
	const secret = "Bmc-Pw-7781"
	bmc, err := ipmisim.Configure(ipmisim.Options{Dir: filepath.Join(dir, "bmc"), Name: "node1", User: "admin", Password: secret, Chassis: []string{prog}})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := bmc.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Process.Kill(); _ = sim.Wait() })
	dev := bmc.Device()
	n, err := cl.SetNodeFence(ctx(t), "node1", &api.NodeFence{Agent: dev.Agent, Params: dev.Params})
	if err != nil {
		t.Fatalf("set fence device: %v", err)
	}
	if n.Fence == nil || n.Fence.Params["password"] != "(hidden)" || n.Fence.Params["ipport"] != dev.Params["ipport"] {
		t.Fatalf("node answer's fence device: %+v", n.Fence)
	}
	if _, err := cl.SetNodeFence(ctx(t), "node1", &api.NodeFence{Agent: "fence_x; reboot"}); api.CodeOf(err) != api.CodeWrongInput {
		t.Fatalf("bad agent: %v", err)
	}
	// node power status, as a job.
	id, err := cl.NodePower(ctx(t), "node1", api.PowerStatus)
	if err != nil {
		t.Fatal(err)
	}
	if j := mastertest.WaitJob(t, m, id, time.Minute); j.State != api.JobSuccess || !strings.Contains(string(j.Result), `"power":"on"`) {
		t.Fatalf("power status job: %s %+v %s", j.State, j.Error, j.Result)
	}
	if _, err := cl.NodePower(ctx(t), "node2", api.PowerOff); api.CodeOf(err) != api.CodeWrongState {
		t.Fatalf("power off of a node without device: %v", err)
	}
	hw := hwPid(t, dir)

	t0 := time.Now()
	a1.Stop()
	a2.Stop()
	mastertest.WaitFor(t, 90*time.Second, "node1 offline after STONITH", func() bool {
		n, err := m.GetNode(ctx(t), "node1")
		return err == nil && n.Status == api.NodeOffline
	})
	t.Logf("node1 from agent stop to offline (fenced through the BMC): %v", time.Since(t0).Round(time.Millisecond))
	n1, err := cl.GetNode(ctx(t), "node1")
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, tr := range n1.Health.Transitions {
		states = append(states, tr.State)
	}
	if got := strings.Join(states, ","); !strings.HasSuffix(got, "online,unreachable,suspect,fencing,fenced,offline") {
		t.Fatalf("node1 transitions: %s", got)
	}
	if f := n1.Health.LastFence; f == nil || !f.OK || f.Power != "off" || f.Action != "off" {
		t.Fatalf("node1 last fence: %+v", n1.Health.LastFence)
	}
	if syscall.Kill(hw, 0) == nil {
		t.Fatalf("node1's hardware process %d survived the confirmed power-off", hw)
	}
	// node2: nothing to fence it with.
	n2, err := cl.GetNode(ctx(t), "node2")
	if err != nil {
		t.Fatal(err)
	}
	if n2.Status != api.NodeSuspect || !n2.NeedsOperator || n2.Health.LastFence != nil {
		t.Fatalf("node2 without fence device or watchdog: %s needs_operator=%v %+v", n2.Status, n2.NeedsOperator, n2.Health)
	}
	list, err := cl.ListNodes(ctx(t), api.NodeQuery{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := cl.ListJobs(ctx(t), api.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for what, v := range map[string]any{"node list": list, "node info": n1, "jobs": jobs} {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), secret) {
			t.Fatalf("the BMC password shows in %s: %s", what, b)
		}
	}
	// node power on brings the hardware back; the agent's return makes the
	// node online again.
	id, err = cl.NodePower(ctx(t), "node1", api.PowerOn)
	if err != nil {
		t.Fatal(err)
	}
	if j := mastertest.WaitJob(t, m, id, time.Minute); j.State != api.JobSuccess {
		t.Fatalf("power on: %+v", j.Error)
	}
	if p := hwPid(t, dir); syscall.Kill(p, 0) != nil {
		t.Fatal("power on did not start the hardware again")
	}
	a1.Start()
	mastertest.WaitFor(t, 30*time.Second, "node1 online again", func() bool {
		n, err := m.GetNode(ctx(t), "node1")
		return err == nil && n.Status == api.NodeOnline
	})
}

func hwPid(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "hw.pid"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// haClient is an admin API client of m.
func haClient(t *testing.T, c *mastertest.Cluster, m *master.Master) *api.Client {
	t.Helper()
	tok, _ := c.AdminToken()
	d, err := master.LoadClusterDir(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(d.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := api.NewClient([]string{"https://" + m.APIAddr()}, tok, ca)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}
