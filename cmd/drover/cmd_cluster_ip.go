package main

import (
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
		Usage: "change cluster settings: the cluster IP (a job)",
		Flags: append(submitFlags(), clusterIPFlag(), clusterIPDevFlag()),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("cluster modify takes no arguments")
			}
			if !c.IsSet("cluster-ip") && !c.IsSet("cluster-ip-dev") {
				return usagef("cluster modify: nothing to change (--cluster-ip, --cluster-ip-dev)")
			}
			if err := checkClusterIPFlags(c); err != nil {
				return err
			}
			var req api.ClusterModify
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
