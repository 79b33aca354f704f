package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// instanceDRBDCommands are the instance verbs of plain and drbd disks.
func instanceDRBDCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "failover", Usage: "move a drbd instance to its secondary node (stop, demote, promote, start)", ArgsUsage: "NAME",
			Flags: append(submitFlags(), forceFlag(),
				&cli.BoolFlag{Name: "ignore-consistency", Usage: "promote the secondary even if its disk is not UpToDate (old primary offline only)"},
				&cli.StringFlag{Name: "shutdown-timeout", Usage: "time the guest gets to power off on the old primary (Go duration, default 2m)"}),
			Action: oneInstance("failover", "Fail instance %s over to its secondary node? It is stopped and started again.",
				func(c *cli.Context, cl *api.Client, n string) (uint64, error) {
					return cl.FailoverInstance(c.Context, n, api.FailoverOptions{IgnoreConsistency: c.Bool("ignore-consistency"),
						ShutdownTimeout: c.String("shutdown-timeout")})
				}),
		},
		{
			Name: "activate-disks", Usage: "bring the disks of a plain or drbd instance up (drbd: primary on the primary node)", ArgsUsage: "NAME",
			Flags: submitFlags(),
			Action: oneInstance("activate-disks", "", func(c *cli.Context, cl *api.Client, n string) (uint64, error) {
				return cl.ActivateDisks(c.Context, n)
			}),
		},
		{
			Name: "deactivate-disks", Usage: "take the disks of a stopped drbd instance down on every node", ArgsUsage: "NAME",
			Flags: submitFlags(),
			Action: oneInstance("deactivate-disks", "", func(c *cli.Context, cl *api.Client, n string) (uint64, error) {
				return cl.DeactivateDisks(c.Context, n)
			}),
		},
	}
}

// printInstanceDRBD prints disk n's DRBD sides for instance info.
func printInstanceDRBD(w io.Writer, disks []api.InstanceDRBDDisk, n int) {
	for _, d := range disks {
		if d.Disk != n {
			continue
		}
		fmt.Fprintf(w, "      drbd resource %s, port %d\n", d.Resource, d.Port)
		for _, s := range d.Nodes {
			if s.Role == "" {
				fmt.Fprintf(w, "        %s: minor %d, not reported (node unreachable or resource down)\n", s.Node, s.Minor)
				continue
			}
			sb := ""
			if s.SplitBrain {
				sb = ", SPLIT-BRAIN"
			}
			fmt.Fprintf(w, "        %s: minor %d, %s, disk %s, peer disk %s, %s, %s, %.1f%% in sync%s\n",
				s.Node, s.Minor, s.Role, s.Disk, orDash(s.PeerDisk), orDash(s.Connection), orDash(s.Replication), s.SyncPercent, sb)
		}
	}
}
