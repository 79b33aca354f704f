package main

import (
	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/nodeagent/hv/workload"
)

// workloadRunCommand is the process of one instance of the workload driver
// (started by the agent, not by users).
func workloadRunCommand() *cli.Command {
	return &cli.Command{
		Name:            "workload-run",
		Usage:           "internal: the process of a workload instance (writes checksummed records to its disk)",
		Hidden:          true,
		SkipFlagParsing: true,
		Action:          func(c *cli.Context) error { return workload.Main(c.Args().Slice()) },
	}
}
