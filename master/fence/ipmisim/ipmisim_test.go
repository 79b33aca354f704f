package ipmisim_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/master/fence"
	"github.com/drover-project/drover/master/fence/ipmisim"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
)

// chassis is the power control of the test's "node", a sleep process: off
// kills it, on starts it again (the recipe of shared/lab/stonith-ipmi.sh).
const chassis = `#!/bin/sh
pidf=$(dirname $0)/node.pid; op=$1; shift
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

// TestFenceIPMILanAgainstIPMISim: the real fence_ipmilan powers a node off
// and on through a real BMC simulator (about 10 s).
func TestFenceIPMILanAgainstIPMISim(t *testing.T) {
	if err := ipmisim.Check(); err != nil {
		hvtest.SkipOrFail(t, err.Error())
	}
	dir := hvtest.ShortTempDir(t)
	prog := filepath.Join(dir, "chassis.sh")
	if err := os.WriteFile(prog, []byte(chassis), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The node runs.
	if out, err := runShell(prog, "set", "power", "1"); err != nil {
		t.Fatalf("start node: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = runShell(prog, "set", "power", "0") })
	b, err := ipmisim.Configure(ipmisim.Options{Dir: filepath.Join(dir, "bmc"), Name: "node1", User: "admin", Password: "pw-Secret9", Chassis: []string{prog}})
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := b.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	r := &fence.Runner{Timeout: 30 * time.Second, Log: hvtest.Logger(t)}
	d := b.Device()

	st, err := r.Status(ctx, d)
	if err != nil || st.Power != string(fence.PowerOn) {
		t.Fatalf("status before: %+v %v", st, err)
	}
	pid := nodePid(t, dir)
	off, err := r.Off(ctx, d)
	if err != nil || !off.OK || off.Power != string(fence.PowerOff) {
		t.Fatalf("off: %+v %v", off, err)
	}
	t.Logf("fence_ipmilan off+status took %v in %d attempt(s)", off.Duration, off.Attempts)
	if syscall.Kill(pid, 0) == nil && !zombie(pid) {
		t.Fatalf("node process %d still runs after a confirmed power-off", pid)
	}
	on, err := r.On(ctx, d)
	if err != nil || on.Power != string(fence.PowerOn) {
		t.Fatalf("on: %+v %v", on, err)
	}
	if p := nodePid(t, dir); syscall.Kill(p, 0) != nil {
		t.Fatalf("node process not started again by power on")
	}
	for _, res := range []fence.Result{st, off, on} {
		j, _ := json.Marshal(res)
		if strings.Contains(string(j), "pw-Secret9") {
			t.Fatalf("password in a result: %s", j)
		}
	}
	// A wrong password fails (and is not retried forever).
	d.Params["password"] = "wrong-pw"
	r.Attempts, r.RetryDelay = 1, time.Millisecond
	if res, err := r.Off(ctx, d); err == nil || res.OK {
		t.Fatalf("off with a wrong password: %+v", res)
	} else if strings.Contains(err.Error(), "wrong-pw") || strings.Contains(res.Output, "wrong-pw") {
		t.Fatalf("password in the error: %v / %q", err, res.Output)
	}
}

func nodePid(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "node.pid"))
	if err != nil {
		t.Fatalf("node pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("node pid: %v", err)
	}
	return pid
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || strings.Contains(string(b), ") Z")
}
