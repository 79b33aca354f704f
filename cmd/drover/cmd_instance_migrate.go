package main

import (
	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// instanceMigrateCommand is `drover instance migrate` (gnt-instance
// migrate): live or hibernate migration, or --cleanup of a failed one.
func instanceMigrateCommand() *cli.Command {
	return &cli.Command{
		Name:      "migrate",
		Usage:     "move a running instance to another node (live; file and plain disks are copied), or --cleanup after a failed migration",
		ArgsUsage: "NAME",
		Flags: append(submitFlags(),
			&cli.StringFlag{Name: "target-node", Aliases: []string{"n"}, Usage: "target node (drbd: its secondary, the default; file/plain: default the node with most free memory)"},
			&cli.StringFlag{Name: "mode", Value: api.MigrateModeLive, Usage: "live, or hibernate (save the guest's state, move, restore)"},
			&cli.BoolFlag{Name: "cleanup", Usage: "resolve a failed or interrupted migration: one primary, one running domain"},
			&cli.Uint64Flag{Name: "bandwidth", Usage: "limit the migration stream to this many MiB/s (0: none)"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "accepted for gnt-instance compatibility (migrate asks nothing)"},
		),
		Action: oneInstance("migrate", "", func(c *cli.Context, cl *api.Client, name string) (uint64, error) {
			o := api.MigrateOptions{TargetNode: c.String("target-node"), Cleanup: c.Bool("cleanup"), BandwidthMiB: c.Uint64("bandwidth")}
			if c.IsSet("mode") || !o.Cleanup {
				o.Mode = c.String("mode")
			}
			if err := (api.InstanceMigrate{Name: name, MigrateOptions: o}).Validate(); err != nil {
				return 0, usagef("%s", api.AsError(err).Message)
			}
			return cl.MigrateInstance(c.Context, name, o)
		}),
	}
}
