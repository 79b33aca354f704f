package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/nodeagent"
)

// blockStorageFlags are the agent's flags for plain and drbd disks.
func blockStorageFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "lvm-vg", Usage: "LVM volume group for plain and drbd disks (none: file disks only)"},
		&cli.StringFlag{Name: "lvm-pv", Usage: "make the volume group on this device when it does not exist (a new node's disk)"},
		&cli.StringFlag{Name: "drbd-resync-rate", Usage: "fixed DRBD resync rate of new resources, e.g. 100M (default: DRBD's dynamic controller)"},
		&cli.BoolFlag{Name: "drbd-reattach", Usage: "attach again, by itself, a lower disk DRBD detached after an I/O error (experimental: docs/drbd.md, \"A failing lower disk\")"},
	}
}

// openBlockStorage opens the node's volume group and DRBD (nil without --lvm-vg).
func openBlockStorage(c *cli.Context, node string, log *slog.Logger) (*nodeagent.BlockStorage, error) {
	vg := c.String("lvm-vg")
	if vg == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(c.Context, 2*time.Minute)
	defer cancel()
	b, err := nodeagent.OpenBlockStorage(ctx, node, vg, c.String("lvm-pv"), log)
	if err != nil {
		return nil, err
	}
	b.ResyncRate = c.String("drbd-resync-rate")
	b.Reattach = c.Bool("drbd-reattach")
	return b, nil
}
