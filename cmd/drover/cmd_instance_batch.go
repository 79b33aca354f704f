package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/rapi"
)

// instanceBatchCommand is `drover instance batch-create FILE`: Ganeti's
// gnt-instance batch-create (docs/cli.md).
func instanceBatchCommand() *cli.Command {
	return &cli.Command{
		Name:      "batch-create",
		Usage:     "create the instances of a JSON file (gnt-instance batch-create's format) in few jobs",
		ArgsUsage: "FILE",
		Flags: append(submitFlags(),
			&cli.StringFlag{Name: "iallocator", Aliases: []string{"I"}, Usage: "accepted for Ganeti: instances without pnode are placed by drover's allocator"},
			&cli.IntFlag{Name: "per-job", Value: api.MaxBatchInstances, Usage: "instances per job (1..100)"},
			&cli.IntFlag{Name: "parallel", Value: 4, Usage: "jobs submitted at once (the leader runs as many as their node locks allow)"},
		),
		Action: batchCreate,
	}
}

func batchCreate(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("instance batch-create needs one file")
	}
	per, par := c.Int("per-job"), c.Int("parallel")
	if per < 1 || per > api.MaxBatchInstances || par < 1 || par > 64 {
		return usagef("--per-job must be 1..%d and --parallel 1..64", api.MaxBatchInstances)
	}
	adds, err := readBatchFile(c.Args().First())
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	var batches []api.InstanceBatchCreate
	for i := 0; i < len(adds); i += per {
		batches = append(batches, api.InstanceBatchCreate{Instances: adds[i:min(i+per, len(adds))]})
	}
	start := time.Now()
	ids := make([]uint64, len(batches))
	jobs := make([]*api.Job, len(batches))
	errs := make([]error, len(batches))
	work := make(chan int)
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for i := range work {
				if ids[i], errs[i] = cl.BatchCreateInstances(c.Context, batches[i]); errs[i] != nil || c.Bool("submit") {
					continue
				}
				jobs[i], errs[i] = cl.WaitForJob(c.Context, ids[i], nil)
			}
		})
	}
	for i := range batches {
		work <- i
	}
	close(work)
	wg.Wait()
	return reportBatch(c, adds, batches, ids, jobs, errs, time.Since(start))
}

// readBatchFile reads a JSON array of OpInstanceCreate parameters.
func readBatchFile(path string) ([]api.InstanceAdd, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&list); err != nil {
		return nil, api.Errorf(api.CodeWrongInput, "%s: want a JSON array of instance objects (gnt-instance batch-create's format): %v", path, err)
	}
	if len(list) == 0 {
		return nil, api.Errorf(api.CodeWrongInput, "%s: no instances", path)
	}
	var out []api.InstanceAdd
	for i, m := range list {
		a, err := rapi.ParseCreateParams(m)
		if err == nil {
			err = a.Validate()
		}
		if err != nil {
			return nil, api.Errorf(api.CodeOf(err), "%s: instance %d (%v): %s", path, i, m["instance_name"], api.AsError(err).Message)
		}
		out = append(out, a)
	}
	return out, nil
}

// reportBatch prints Ganeti's "Submitted jobs" line, or what each job did,
// and fails when any instance was not created.
func reportBatch(c *cli.Context, adds []api.InstanceAdd, batches []api.InstanceBatchCreate, ids []uint64, jobs []*api.Job, errs []error, took time.Duration) error {
	w := c.App.Writer
	var sub []string
	for i := range batches {
		if ids[i] != 0 {
			sub = append(sub, fmt.Sprint(ids[i]))
		}
	}
	fmt.Fprintf(c.App.ErrWriter, "Submitted jobs %s\n", strings.Join(sub, ", "))
	var failed []string
	created := 0
	for i, b := range batches {
		if errs[i] != nil {
			fmt.Fprintf(c.App.ErrWriter, "batch %d (%s...): %v\n", i+1, b.Instances[0].Name, errs[i])
			for _, a := range b.Instances {
				failed = append(failed, a.Name)
			}
			continue
		}
		if jobs[i] == nil {
			continue // --submit
		}
		var res api.InstanceBatchResult
		_ = json.Unmarshal(jobs[i].Result, &res)
		if jobs[i].State != api.JobSuccess && len(res.Created) == 0 {
			res.Failed = nil
			for _, a := range b.Instances {
				res.Failed = append(res.Failed, a.Name)
			}
		}
		created += len(res.Created)
		failed = append(failed, res.Failed...)
		for _, n := range res.Failed {
			fmt.Fprintf(c.App.ErrWriter, "instance %s not created (drover job info %d)\n", n, ids[i])
		}
	}
	if c.Bool("submit") {
		return nil
	}
	if outputJSON(c) {
		if err := printJSON(w, api.InstanceBatchResult{Created: createdNames(adds, failed), Failed: failed}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "%d of %d instances created in %d jobs in %.1fs (%.1f/s)\n", created, len(adds), len(batches),
			took.Seconds(), float64(created)/took.Seconds())
	}
	if len(failed) > 0 {
		return cli.Exit(fmt.Sprintf("%d instances not created: %s", len(failed), strings.Join(failed, ", ")), exitFailure)
	}
	return nil
}

func createdNames(adds []api.InstanceAdd, failed []string) []string {
	bad := map[string]bool{}
	for _, f := range failed {
		bad[f] = true
	}
	out := []string{}
	for _, a := range adds {
		if !bad[a.Name] {
			out = append(out, a.Name)
		}
	}
	return out
}
