package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// The cluster IP flags of cluster init and cluster modify (docs/ha.md,
// "Floating addresses").
func clusterIPFlag() cli.Flag {
	return &cli.StringFlag{Name: "cluster-ip", Usage: `floating address ADDR/PREFIX (IPv4) that the leader holds; "" removes it (modify)`}
}

func clusterIPDevFlag() cli.Flag {
	return &cli.StringFlag{Name: "cluster-ip-dev", Usage: "network device of every master on which the leader announces the cluster IP"}
}

// checkClusterIPFlags refuses a malformed address or device, and at init
// one without the other.
func checkClusterIPFlags(c *cli.Context) error {
	ip, dev := c.String("cluster-ip"), c.String("cluster-ip-dev")
	if err := api.ValidClusterIP(ip, dev, c.IsSet("cluster-ip"), c.IsSet("cluster-ip-dev")); err != nil {
		return usagef("%s", api.AsError(err).Message)
	}
	if c.Command.Name == "init" && (ip == "") != (dev == "") {
		return usagef("--cluster-ip and --cluster-ip-dev go together")
	}
	return nil
}

func clusterModifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "modify",
		Usage: "change cluster settings: the cluster IP, the node groups' ping targets, uplink migration (a job)",
		Flags: append(submitFlags(), clusterIPFlag(), clusterIPDevFlag(),
			&cli.StringSliceFlag{Name: "ping-target", Usage: `GROUP=ADDR[,ADDR...]: addresses the agents of node group GROUP ping to judge their uplink; "GROUP=" clears (repeatable)`},
			&cli.StringFlag{Name: "uplink-migrate", Usage: "on|off: migrate instances away from a node that lost its uplink (default on)"}),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("cluster modify takes no arguments")
			}
			if !c.IsSet("cluster-ip") && !c.IsSet("cluster-ip-dev") && !c.IsSet("ping-target") && !c.IsSet("uplink-migrate") {
				return usagef("cluster modify: nothing to change (--cluster-ip, --cluster-ip-dev, --ping-target, --uplink-migrate)")
			}
			if err := checkClusterIPFlags(c); err != nil {
				return err
			}
			var req api.ClusterModify
			if c.IsSet("ping-target") {
				t, err := parsePingTargets(c.StringSlice("ping-target"))
				if err != nil {
					return err
				}
				req.PingTargets = t
			}
			if c.IsSet("uplink-migrate") {
				v, err := boolArg("uplink-migrate", c.String("uplink-migrate"))
				if err != nil {
					return err
				}
				req.UplinkMigrate = v
			}
			if c.IsSet("cluster-ip") {
				v := c.String("cluster-ip")
				req.ClusterIP = &v
			}
			if c.IsSet("cluster-ip-dev") {
				v := c.String("cluster-ip-dev")
				req.ClusterIPDev = &v
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			id, err := cl.ModifyCluster(c.Context, req)
			if err != nil {
				return err
			}
			return followJob(c, cl, id)
		},
	}
}

// parsePingTargets reads --ping-target values GROUP=ADDR[,ADDR...]
// ("GROUP=" clears the group's targets).
func parsePingTargets(vals []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, v := range vals {
		g, addrs, ok := strings.Cut(v, "=")
		if !ok || g == "" {
			return nil, usagef("--ping-target %q: want GROUP=ADDR[,ADDR...]", v)
		}
		if _, dup := out[g]; dup {
			return nil, usagef("--ping-target: group %s given twice", g)
		}
		out[g] = []string{}
		for _, a := range strings.Split(addrs, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out[g] = append(out[g], a)
			}
		}
	}
	if err := api.ValidPingTargets(out); err != nil {
		return nil, usagef("%s", api.AsError(err).Message)
	}
	return out, nil
}
