package nodeagent_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// TestAgentLeavesNoGoroutines: an agent that ran commands (create, start,
// shutdown, remove) and was stopped leaves no goroutine running agent code.
// Only goroutines with a frame in this package (outside its tests) count:
// the in-process master and etcd of the harness run on.
func TestAgentLeavesNoGoroutines(t *testing.T) {
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	h := startHarness(t, drv, harnessOpts{})
	inst := instance("leak1", hv.KindFake)
	for _, kind := range []string{keys.CmdInstanceCreate, keys.CmdInstanceStart, keys.CmdInstanceShutdown, keys.CmdInstanceRemove} {
		c := h.send(kind, inst, nil, nil)
		if r := h.wait(c.ID, 30*time.Second); r.Error != nil {
			t.Fatalf("%s: %+v", kind, r.Error)
		}
	}
	if len(agentGoroutines()) == 0 {
		t.Fatal("no agent goroutine found while the agent runs: the check would see no leak either")
	}
	h.stop()
	var left []string
	h.waitFor(10*time.Second, "the agent's goroutines to end", func() bool {
		left = agentGoroutines()
		return len(left) == 0
	})
	if len(left) > 0 {
		t.Fatalf("goroutines left:\n%s", strings.Join(left, "\n\n"))
	}
}

const agentPkg = "github.com/drover-project/drover/nodeagent"

// agentGoroutines returns the stacks of goroutines that run code of this
// package outside its test files.
func agentGoroutines() []string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		agent := false
		for _, line := range strings.Split(g, "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, agentPkg) && !strings.HasPrefix(line, agentPkg+"/hv") && !strings.HasPrefix(line, agentPkg+"_test") {
				agent = true
			}
			if strings.Contains(line, "_test.go:") {
				agent = false // the test's own goroutine (or a harness helper)
				break
			}
		}
		if agent {
			out = append(out, g)
		}
	}
	return out
}
