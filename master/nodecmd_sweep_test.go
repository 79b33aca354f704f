package master_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// TestSweepKeepsFreshAnswer: the leader's sweep of answered commands of no
// job (its own undo commands, an operator's tool) keeps an answer for a
// grace counted from when it saw the answer, not from the command's
// creation: a command that ran for minutes is not swept right after its
// answer appears, before whoever waits for it read it (the cause of
// TestVMNodesReplaceSecondary9's 90 s wait for a 5.5 s disk.create). Then
// the sweep does remove command and result.
func TestSweepKeepsFreshAnswer(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{})
	m := c.Masters[c.WaitLeader(30*time.Second)].M
	cli := m.Client()
	id := "tool-1-disk-create"
	cmd, _ := json.Marshal(keys.NodeCommand{ID: id, Kind: keys.CmdDiskCreate, CreatedAt: time.Now().Add(-time.Hour)})
	if _, err := cli.Put(ctx(t), keys.NodeCommandKey("node9", id), string(cmd)); err != nil {
		t.Fatal(err)
	}
	res, _ := json.Marshal(keys.NodeCommandResult{ID: id, Done: true, At: time.Now()})
	start := time.Now()
	if _, err := cli.Put(ctx(t), keys.NodeResultKey("node9", id), string(res)); err != nil {
		t.Fatal(err)
	}
	var gone time.Duration
	mastertest.WaitFor(t, 90*time.Second, "the answered command swept", func() bool {
		r, err := cli.Get(ctx(t), keys.NodeResultKey("node9", id))
		if err != nil || len(r.Kvs) > 0 {
			return false
		}
		gone = time.Since(start)
		r, err = cli.Get(ctx(t), keys.NodeCommandKey("node9", id))
		return err == nil && len(r.Kvs) == 0
	})
	// The grace is 5 watcher passes (10 s) from the first pass that saw the
	// answer, which came after the put: a slow machine only makes it later.
	if gone < 10*time.Second {
		t.Fatalf("the answer was swept %.1f s after it appeared; it must stay readable for the grace (10 s)", gone.Seconds())
	}
	t.Logf("answered command of no job swept %.1f s after its answer", gone.Seconds())
}
