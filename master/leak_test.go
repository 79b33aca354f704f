package master_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/mastertest"
)

// TestNoGoroutineLeak starts a master, runs a job, stops it and checks that the
// goroutines it started are gone.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	c := mastertest.Start(t, mastertest.Options{})
	m := c.Masters[0].M
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "10ms"}))
	mastertest.WaitJob(t, m, id, 5*time.Second)
	c.StopAll()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before+2 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			var ours []string
			for _, g := range strings.Split(stacks, "\n\n") {
				if strings.Contains(g, "drover-project/drover/master") {
					ours = append(ours, g)
				}
			}
			t.Fatalf("%d goroutines after stop, %d before; master goroutines:\n%s", n, before, strings.Join(ours, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
