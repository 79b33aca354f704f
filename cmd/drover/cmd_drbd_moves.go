package main

import (
	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// Verbs that move DRBD disks and instances: instance replace-disks and
// recover-split-brain, cluster verify-disks and balance, node evacuate,
// migrate and failover (docs/cli.md, docs/drbd.md).

// withMoves appends verbs to a noun's command.
func withMoves(cmd *cli.Command, verbs []*cli.Command) *cli.Command {
	cmd.Subcommands = append(cmd.Subcommands, verbs...)
	return cmd
}

func instanceMoveCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "replace-disks",
			Usage:     "replace the DRBD disks of an instance: -n NODE moves the secondary (on DRBD 9 never fewer than two UpToDate copies), -s/-p remake one side, -a what is faulty",
			ArgsUsage: "NAME",
			Flags: append(submitFlags(),
				&cli.BoolFlag{Name: "on-primary", Aliases: []string{"p"}, Usage: "remake the primary's disks from the secondary (instance stopped)"},
				&cli.BoolFlag{Name: "on-secondary", Aliases: []string{"s"}, Usage: "remake the secondary's disks from the primary"},
				&cli.StringFlag{Name: "new-secondary", Aliases: []string{"n"}, Usage: "move the secondary to `NODE`"},
				&cli.BoolFlag{Name: "auto", Aliases: []string{"a"}, Usage: "remake the disks that are faulty; nothing when all are healthy"}),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usagef("instance replace-disks needs one instance name")
				}
				var modes []string
				if c.Bool("on-primary") {
					modes = append(modes, api.ReplaceOnPrimary)
				}
				if c.Bool("on-secondary") {
					modes = append(modes, api.ReplaceOnSecondary)
				}
				if c.String("new-secondary") != "" {
					modes = append(modes, api.ReplaceNewSecondary)
				}
				if c.Bool("auto") {
					modes = append(modes, api.ReplaceAuto)
				}
				if len(modes) != 1 {
					return usagef("instance replace-disks needs exactly one of -p, -s, -n NODE, -a")
				}
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				id, err := cl.ReplaceDisks(c.Context, c.Args().First(), api.ReplaceDisksOptions{Mode: modes[0], NewSecondary: c.String("new-secondary")})
				if err != nil {
					return err
				}
				return followJob(c, cl, id)
			},
		},
		{
			Name:      "recover-split-brain",
			Usage:     "resolve a DRBD split brain verify-disks reported: the changes of --discard NODE since the split are thrown away and it resyncs from the other node",
			ArgsUsage: "NAME",
			Flags:     append(submitFlags(), &cli.StringFlag{Name: "discard", Usage: "the split-brain victim `NODE` (a secondary there)", Required: true}),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usagef("instance recover-split-brain needs one instance name")
				}
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				id, err := cl.RecoverSplitBrain(c.Context, c.Args().First(), c.String("discard"))
				if err != nil {
					return err
				}
				return followJob(c, cl, id)
			},
		},
	}
}

func nodeMoveCommands() []*cli.Command {
	move := func(name, usage string, failover bool) *cli.Command {
		return &cli.Command{Name: name, Usage: usage, ArgsUsage: "NAME", Flags: submitFlags(),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usagef("node %s needs one node name", name)
				}
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				id, err := cl.MigrateNode(c.Context, c.Args().First(), failover)
				if err != nil {
					return err
				}
				return followJob(c, cl, id)
			}}
	}
	return []*cli.Command{
		{
			Name:      "evacuate",
			Usage:     "move every instance off a node in one job planned by the allocator (N+1 kept at every step): primaries by migrate (failover when down), secondaries by replace-disks -n",
			ArgsUsage: "NAME",
			Flags: append(submitFlags(),
				&cli.BoolFlag{Name: "primary-only", Usage: "move only the instances whose primary is the node"},
				&cli.BoolFlag{Name: "secondary-only", Usage: "move only the DRBD secondaries on the node"}),
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usagef("node evacuate needs one node name")
				}
				mode := api.EvacuateAll
				switch {
				case c.Bool("primary-only") && c.Bool("secondary-only"):
					return usagef("node evacuate: --primary-only and --secondary-only exclude each other")
				case c.Bool("primary-only"):
					mode = api.EvacuatePrimaryOnly
				case c.Bool("secondary-only"):
					mode = api.EvacuateSecondaryOnly
				}
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				id, err := cl.EvacuateNode(c.Context, c.Args().First(), api.NodeEvacuateOptions{Mode: mode})
				if err != nil {
					return err
				}
				return followJob(c, cl, id)
			},
		},
		move("migrate", "live-migrate every primary instance of a node to its secondary", false),
		move("failover", "fail every primary instance of a node over to its secondary", true),
	}
}

func clusterMoveCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:  "verify-disks",
			Usage: "check every DRBD disk: reconnect what is StandAlone or not up, report the rest (split brains with their recovery verb)",
			Flags: submitFlags(),
			Action: func(c *cli.Context) error {
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				id, err := cl.VerifyDisks(c.Context)
				if err != nil {
					return err
				}
				return followJob(c, cl, id)
			},
		},
		{
			Name:  "balance",
			Usage: "run the allocator's balance plan on the live cluster as jobs (hbal -X); --dry-run prints the plan",
			Flags: append(submitFlags(),
				&cli.BoolFlag{Name: "dry-run", Usage: "plan and print the moves, move nothing"},
				&cli.IntFlag{Name: "max-moves", Usage: "at most `N` moves (0: no cap)"}),
			Action: func(c *cli.Context) error {
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				id, err := cl.BalanceCluster(c.Context, api.ClusterBalance{DryRun: c.Bool("dry-run"), MaxMoves: c.Int("max-moves")})
				if err != nil {
					return err
				}
				return followJob(c, cl, id)
			},
		},
	}
}
