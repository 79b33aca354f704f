package nodeagent_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/drover-project/drover/nodeagent/hv/workload"
)

// The test binary doubles as the workload driver's instance process
// (`workload-run`), as the drover binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "workload-run" {
		if err := workload.Main(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 2 && os.Args[1] == "agent-run" {
		// An agent in a process of its own, to be killed with SIGKILL
		// (lease_resume_test.go).
		if err := runAgentProcess(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
