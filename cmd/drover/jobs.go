package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

func submitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "submit", Usage: "print the job id and return without waiting"},
	}
}

// followJob waits for job id (unless --submit), printing its log as it grows,
// and returns the job's error (with its code) when it did not succeed.
func followJob(c *cli.Context, cl *api.Client, id uint64) error {
	w := c.App.Writer
	if c.Bool("submit") {
		if outputJSON(c) {
			return printJSON(w, api.JobAccepted{JobID: id})
		}
		fmt.Fprintln(w, id)
		return nil
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	progress := c.App.ErrWriter
	if outputJSON(c) {
		progress = io.Discard
	}
	fmt.Fprintf(progress, "Job %d submitted\n", id)
	seen := 0
	job, err := cl.WaitForJob(ctx, id, func(j *api.Job) {
		for ; seen < len(j.Log); seen++ {
			printLogEntry(progress, j.Log[seen])
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped waiting; job %d goes on (drover job watch %d)", id, id)
		}
		return err
	}
	for ; seen < len(job.Log); seen++ {
		printLogEntry(progress, job.Log[seen])
	}
	if outputJSON(c) {
		if err := printJSON(w, job); err != nil {
			return err
		}
	}
	switch job.State {
	case api.JobSuccess:
		return nil
	case api.JobCanceled:
		return cli.Exit(fmt.Sprintf("job %d was canceled", id), exitFailure)
	default:
		if job.Error != nil {
			return job.Error
		}
		return fmt.Errorf("job %d ended in state %s", id, job.State)
	}
}

func printLogEntry(w io.Writer, e api.JobLogEntry) {
	lvl := ""
	if e.Level != "" && e.Level != "info" {
		lvl = strings.ToUpper(e.Level) + ": "
	}
	fmt.Fprintf(w, "%s %s%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), lvl, e.Message)
}

func parseJobID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usagef("invalid job id %q", s)
	}
	return id, nil
}

func jobSummary(j api.Job) string {
	var k []string
	for _, op := range j.Ops {
		k = append(k, op.Kind)
	}
	return strings.Join(k, ",")
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

var jobFields = fieldSet[api.Job]{
	defaults: []string{"id", "status", "summary"},
	fields: []field[api.Job]{
		{"id", "ID", func(j api.Job) string { return strconv.FormatUint(j.ID, 10) }},
		{"status", "Status", func(j api.Job) string { return string(j.State) }},
		{"summary", "Summary", jobSummary},
		{"priority", "Prio", func(j api.Job) string { return strconv.Itoa(j.Priority) }},
		{"submitter", "Submitter", func(j api.Job) string { return j.Submitter }},
		{"received_ts", "Received", func(j api.Job) string { return fmtTime(&j.ReceivedAt) }},
		{"start_ts", "Started", func(j api.Job) string { return fmtTime(j.StartedAt) }},
		{"end_ts", "Ended", func(j api.Job) string { return fmtTime(j.EndedAt) }},
		{"runs", "Runs", func(j api.Job) string { return strconv.Itoa(j.Runs) }},
		{"error", "Error", func(j api.Job) string {
			if j.Error == nil {
				return "-"
			}
			return j.Error.Error()
		}},
	},
}

func jobCommand() *cli.Command {
	return &cli.Command{
		Name:  "job",
		Usage: "list, inspect, follow and cancel jobs",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list jobs (newest last)",
				Flags: append(listFlags(),
					&cli.BoolFlag{Name: "pending", Usage: "only queued and waiting jobs"},
					&cli.BoolFlag{Name: "running", Usage: "only running jobs"},
					&cli.BoolFlag{Name: "error", Usage: "only failed jobs"},
					&cli.BoolFlag{Name: "finished", Usage: "only finished jobs"},
					&cli.BoolFlag{Name: "archived", Usage: "include archived jobs"},
					&cli.IntFlag{Name: "limit", Usage: "at most this many (newest)"},
				),
				Action: func(c *cli.Context) error {
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					f := api.JobFilter{Archived: c.Bool("archived"), Limit: c.Int("limit")}
					if c.Bool("pending") {
						f.States = append(f.States, api.JobQueued, api.JobWaiting)
					}
					if c.Bool("running") {
						f.States = append(f.States, api.JobRunning, api.JobCanceling)
					}
					if c.Bool("error") {
						f.States = append(f.States, api.JobError)
					}
					if c.Bool("finished") {
						f.States = append(f.States, api.JobSuccess, api.JobError, api.JobCanceled)
					}
					jobs, err := cl.ListJobs(c.Context, f)
					if err != nil {
						return err
					}
					return printList(c, jobFields, jobs)
				},
			},
			{
				Name:      "info",
				Usage:     "show a job in full: opcodes, status, log, result",
				ArgsUsage: "ID",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("job info needs one job id")
					}
					id, err := parseJobID(c.Args().First())
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					j, err := cl.GetJob(c.Context, id)
					if err != nil {
						return err
					}
					if outputJSON(c) {
						return printJSON(c.App.Writer, j)
					}
					printJobInfo(c.App.Writer, j)
					return nil
				},
			},
			{
				Name:      "watch",
				Usage:     "follow a job's log until it ends; the exit code tells how it ended",
				ArgsUsage: "ID",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("job watch needs one job id")
					}
					id, err := parseJobID(c.Args().First())
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					return followJob(c, cl, id)
				},
			},
			{
				Name:      "cancel",
				Usage:     "cancel jobs: a queued or waiting one at once, a running one at its next step (its running opcode's done steps are undone)",
				ArgsUsage: "ID...",
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return usagef("job cancel needs at least one job id")
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					for _, a := range c.Args().Slice() {
						id, err := parseJobID(a)
						if err != nil {
							return err
						}
						if err := cl.CancelJob(c.Context, id); err != nil {
							return fmt.Errorf("cancel job %d: %w", id, err)
						}
						if j, err := cl.GetJob(c.Context, id); err == nil && !j.State.Finished() {
							fmt.Fprintf(c.App.Writer, "Job %d: cancel requested; it stops at its next step and undoes the done steps of its running opcode (drover job watch %d)\n", id, id)
							continue
						}
						fmt.Fprintf(c.App.Writer, "Job %d canceled\n", id)
					}
					return nil
				},
			},
		},
	}
}

func printJobInfo(w io.Writer, j *api.Job) {
	fmt.Fprintf(w, "Job ID: %d\n", j.ID)
	fmt.Fprintf(w, "  Status: %s\n", j.State)
	fmt.Fprintf(w, "  Priority: %d\n", j.Priority)
	fmt.Fprintf(w, "  Submitter: %s\n", orDash(j.Submitter))
	fmt.Fprintf(w, "  Received: %s\n", fmtTime(&j.ReceivedAt))
	fmt.Fprintf(w, "  Started: %s\n", fmtTime(j.StartedAt))
	fmt.Fprintf(w, "  Ended: %s\n", fmtTime(j.EndedAt))
	fmt.Fprintf(w, "  Runs: %d (epoch %d)\n", j.Runs, j.Epoch)
	if len(j.Locks) > 0 {
		fmt.Fprintf(w, "  Locks: %s\n", strings.Join(j.Locks, ", "))
	}
	fmt.Fprintln(w, "  Opcodes:")
	for i, op := range j.Ops {
		st := api.OpStatus{}
		if i < len(j.OpStatus) {
			st = j.OpStatus[i]
		}
		fmt.Fprintf(w, "    - %s: %s, %d steps done\n", op.Kind, orDash(string(st.State)), st.StepsDone)
		if len(op.Params) > 0 {
			fmt.Fprintf(w, "      Input: %s\n", op.Params)
		}
		if len(st.Result) > 0 {
			fmt.Fprintf(w, "      Result: %s\n", st.Result)
		}
	}
	if j.Error != nil {
		fmt.Fprintf(w, "  Error: %s\n", j.Error.Error())
	}
	fmt.Fprintln(w, "  Log:")
	for _, e := range j.Log {
		fmt.Fprintf(w, "    %d %s %s %s\n", e.Serial, e.Time.Local().Format(time.RFC3339), e.Level, e.Message)
	}
}

var _ = context.Background
