package nodeagent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// TestAgentFencesWithHypervisorDown is the regression test of issue 7's
// "self-fencing does nothing when libvirtd hangs": fence() returned when the
// domain list failed, so the guests ran on. Here the agent loses its lease
// (its only master and etcd member stopped) while its hypervisor does not
// answer; the guest's process (a real process with libvirt's pid file) is
// killed all the same.
func TestAgentFencesWithHypervisorDown(t *testing.T) {
	realtest.Short(t, "master and agent, 10 s")
	c := mastertest.Start(t, mastertest.Options{})
	m := c.Masters[0].M
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "n1"}))
	if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("node add: %+v", j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cred, err := m.NodeCredentials(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	pidDir := t.TempDir()
	drv := runningFake(t, "g1")
	guest := guestProcess(t, pidDir, "g1")
	logs := &logCapture{next: slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})}
	a, err := New(Config{
		Credentials: *cred, Driver: drv, StorageDir: t.TempDir(), LeaseTTL: 3 * time.Second,
		Fence: FenceConfig{PidDirs: []string{pidDir}},
	}, slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() { acancel(); <-done }()
	for {
		resp, err := m.Client().Get(ctx, keys.NodeStatusKey("n1"))
		if err == nil && len(resp.Kvs) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("node n1 never published its status")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for !a.fencer.sawHypervisor() {
		time.Sleep(20 * time.Millisecond)
	}
	drv.SetDown(true)
	c.Stop(0)
	waitGone(t, guest.Process.Pid, 15*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for logs.count("self_fence_done", "") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not report a done self-fence")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
