package main

import (
	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

func debugCommand() *cli.Command {
	return &cli.Command{
		Name:  "debug",
		Usage: "debugging aids (gnt-debug)",
		Subcommands: []*cli.Command{
			{
				Name:  "delay",
				Usage: "run a job of timed, checkpointed steps (gnt-debug delay)",
				Flags: append(submitFlags(),
					&cli.DurationFlag{Name: "duration", Aliases: []string{"d"}, Required: true, Usage: "total duration, e.g. 8s"},
					&cli.IntFlag{Name: "steps", Usage: "number of steps (default one per second)"},
					&cli.BoolFlag{Name: "fail", Usage: "make the last step fail"},
				),
				Action: func(c *cli.Context) error {
					if c.Duration("duration") <= 0 {
						return usagef("--duration must be positive")
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					id, err := cl.DebugDelay(c.Context, api.DebugDelay{
						Duration: c.Duration("duration").String(), Steps: c.Int("steps"), Fail: c.Bool("fail"),
					})
					if err != nil {
						return err
					}
					return followJob(c, cl, id)
				},
			},
		},
	}
}
