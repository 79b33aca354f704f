package api_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/drover-project/drover/api"
)

// A CLI-style client: several masters from DROVER_API, a change submitted as
// a job, and its progress followed until it finishes.
func ExampleClient_WaitForJob() {
	caPEM, _ := os.ReadFile(os.Getenv("DROVER_CA"))
	c, err := api.NewClient(api.ParseEndpoints(os.Getenv("DROVER_API")), os.Getenv("DROVER_TOKEN"), caPEM)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := c.DebugDelay(ctx, api.DebugDelay{Duration: "8s"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "code", api.CodeOf(err), err)
		return
	}
	seen := 0
	job, err := c.WaitForJob(ctx, id, func(j *api.Job) {
		for ; seen < len(j.Log); seen++ {
			fmt.Println(j.Log[seen].Time.Format(time.TimeOnly), j.Log[seen].Message)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Println("job", job.ID, job.State)
}
