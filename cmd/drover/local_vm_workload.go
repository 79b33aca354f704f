package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/nodeagent/hv/workload"
)

// workloadRunCommand is the process of one instance of the workload driver
// (started by the agent, not by users).
func workloadRunCommand() *cli.Command {
	return &cli.Command{
		Name:   "workload-run",
		Usage:  "internal: the process of a workload instance (writes checksummed records to its disk)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "device", Required: true, Usage: "disk the records go to"},
			&cli.StringFlag{Name: "acks", Usage: "file the last acknowledged record is written to"},
			&cli.DurationFlag{Name: "interval", Usage: "time between records"},
			&cli.StringFlag{Name: "instance-uuid", Usage: "the instance's UUID: its records carry its ring (leftovers of a removed instance on a reused disk are not its history)"},
		},
		Action: func(c *cli.Context) error {
			ctx, stop := signalContext(c.Context)
			defer stop()
			o := workload.WriterOptions{Device: c.String("device"), AckFile: c.String("acks"),
				Interval: c.Duration("interval"), Console: os.Stdout}
			if u := c.String("instance-uuid"); u != "" {
				o.Ring = workload.RingID(u)
			}
			return workload.Write(ctx, o)
		},
	}
}
