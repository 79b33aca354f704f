package master

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence"
	"github.com/drover-project/drover/master/fence/ipmisim"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
)

// powerFileChassis is the test BMC's power control: the "hardware" is a
// file holding 1 (on) or 0 (off).
const powerFileChassis = `#!/bin/sh
f=$(dirname $0)/power; op=$1; shift
case $op in
get) for p in "$@"; do case $p in power) echo power:$(cat $f 2>/dev/null || echo 0);; boot) echo boot:default;; esac; done;;
set) while [ $# -gt 1 ]; do case $1 in power) echo $2 > $f;; reset) echo 1 > $f;; esac; shift 2; done;;
esac
exit 0
`

// startFileBMC starts an ipmi_sim BMC named name whose hardware is a
// powerFileChassis file, powered on; power sets it ("1" on, "0" off). The
// BMC is stopped at the test's end.
func startFileBMC(t *testing.T, name, password string) (bmc *ipmisim.BMC, power func(state string)) {
	t.Helper()
	dir := hvtest.ShortTempDir(t)
	prog := filepath.Join(dir, "chassis.sh")
	if err := os.WriteFile(prog, []byte(powerFileChassis), 0o755); err != nil {
		t.Fatal(err)
	}
	power = func(state string) {
		t.Helper()
		if out, err := exec.Command(prog, "set", "power", state).CombinedOutput(); err != nil {
			t.Fatalf("chassis power %s: %v %s", state, err, out)
		}
	}
	power("1")
	bmc, err := ipmisim.Configure(ipmisim.Options{Dir: filepath.Join(dir, "bmc"), Name: name, User: "admin", Password: password, Chassis: []string{prog}})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := bmc.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Process.Kill(); _ = sim.Wait() })
	return bmc, power
}

// TestFastPathThroughIPMISim: the fast path's status reads go through the
// real fence_ipmilan to an OpenIPMI ipmi_sim BMC. A late node whose BMC
// says on stays online; once the hardware is off, the next read confirms
// it and the node goes to fencing at once; the normal power-off that
// follows succeeds on the node already off. About 5 s.
func TestFastPathThroughIPMISim(t *testing.T) {
	if err := ipmisim.Check(); err != nil {
		hvtest.SkipOrFail(t, err.Error())
	}
	bmc, power := startFileBMC(t, "n1", "Fast-Pw-31")

	f := newFastFake(t)
	runner := &fence.Runner{Timeout: 30 * time.Second}
	var reads []fence.Power
	f.fp.devices = func(context.Context) (map[string]fence.Device, error) {
		return map[string]fence.Device{"n1": bmc.Device()}, nil
	}
	f.fp.power = func(ctx context.Context, d fence.Device) (fence.Power, error) {
		res, err := runner.Status(ctx, d)
		reads = append(reads, fence.Power(res.Power))
		return fence.Power(res.Power), err
	}
	f.device["n1"] = true
	f.online("n1", 5)
	f.remaining[5] = 3 // not renewed for 6-7 s: late
	if a := f.probe(); len(a) != 0 {
		t.Fatalf("actions while the BMC says on: %v", a)
	}
	f.want("n1", api.NodeOnline)
	power("0")
	f.now = f.now.Add(bmcStatusEvery)
	a := f.probe()
	if len(reads) != 2 || reads[0] != fence.PowerOn || reads[1] != fence.PowerOff {
		t.Fatalf("status reads: %v", reads)
	}
	f.want("n1", api.NodeFencing)
	if len(a) != 1 || a[0].kind != actStonith || f.lv.nodes["n1"].rec.Reason != reasonPowerOffConfirmed {
		t.Fatalf("actions %v, reason %q", a, f.lv.nodes["n1"].rec.Reason)
	}
	res, err := runner.Off(context.Background(), bmc.Device())
	if err != nil || res.Power != string(fence.PowerOff) {
		t.Fatalf("power-off of the node already off: %+v %v", res, err)
	}
	f.lv.fenceDone("n1", res, nil)
	f.want("n1", api.NodeFenced)
}
