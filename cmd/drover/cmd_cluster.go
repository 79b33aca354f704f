package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
)

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "initialise, inspect and verify the cluster",
		Subcommands: append([]*cli.Command{
			{
				Name:      "init",
				Usage:     "write a new cluster directory: CA, master certificates, signing key, admin token",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dir", Required: true, Usage: "cluster directory to create"},
					&cli.StringSliceFlag{Name: "master", Usage: "NAME=IP of a master (repeat for 3 masters); default m1=127.0.0.1"},
					&cli.IntFlag{Name: "api-port", Value: master.DefaultAPIPort, Usage: "API port of every master"},
					&cli.IntFlag{Name: "etcd-client-port", Value: master.DefaultClientPort},
					&cli.IntFlag{Name: "etcd-peer-port", Value: master.DefaultPeerPort},
					&cli.StringFlag{Name: "mac-prefix", Value: master.DefaultMACPrefix, Usage: "first three octets of instance MACs"},
					&cli.IntFlag{Name: "node-lease-ttl", Value: master.DefaultNodeLeaseTTL, Usage: "agents' lease TTL in seconds"},
					clusterIPFlag(), clusterIPDevFlag(),
				},
				Action: clusterInit,
			},
			clusterModifyCommand(),
			{
				Name:  "info",
				Usage: "show the cluster: name, leader, epoch, masters",
				Action: func(c *cli.Context) error {
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					ci, err := cl.ClusterInfo(c.Context)
					if err != nil {
						return err
					}
					if outputJSON(c) {
						return printJSON(c.App.Writer, ci)
					}
					printClusterInfo(c.App.Writer, ci)
					return nil
				},
			},
			{
				Name:  "verify",
				Usage: "check the cluster for problems; exits 1 when there are errors",
				Action: func(c *cli.Context) error {
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					rep, err := cl.ClusterVerify(c.Context)
					if err != nil {
						return err
					}
					if outputJSON(c) {
						if err := printJSON(c.App.Writer, rep); err != nil {
							return err
						}
					} else {
						for _, f := range rep.Findings {
							fmt.Fprintf(c.App.Writer, "%s: %s: %s: %s\n", strings.ToUpper(f.Severity), f.Code, f.Object, f.Message)
						}
						if len(rep.Findings) == 0 {
							fmt.Fprintln(c.App.Writer, "Cluster verify: no problems found")
						}
					}
					if !rep.OK {
						return cli.Exit("", exitFailure)
					}
					return nil
				},
			},
			{
				Name:  "repair",
				Usage: "remove orphans (domains and instance files on nodes that no instance claims), as verify lists them",
				Flags: append(submitFlags(),
					&cli.BoolFlag{Name: "dry-run", Usage: "list what would be removed, remove nothing"},
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() != 0 {
						return usagef("cluster repair takes no arguments")
					}
					if !c.Bool("dry-run") {
						if err := confirm(c, "Remove every orphan domain and its disks from the nodes?"); err != nil {
							return err
						}
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					id, err := cl.ClusterRepair(c.Context, api.ClusterRepair{DryRun: c.Bool("dry-run")})
					if err != nil {
						return err
					}
					return followJob(c, cl, id)
				},
			},
		}, append(clusterOpsCommands(), clusterMasterCommands()...)...),
	}
}

func clusterInit(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("cluster init needs the cluster name")
	}
	name := c.Args().First()
	if err := api.ValidHostname(name); err != nil {
		return usagef("invalid cluster name: %v", err)
	}
	if err := checkClusterIPFlags(c); err != nil {
		return err
	}
	specs := c.StringSlice("master")
	if len(specs) == 0 {
		specs = []string{"m1=127.0.0.1"}
	}
	var ms []keys.MasterSpec
	for _, s := range specs {
		n, ip, ok := strings.Cut(s, "=")
		if !ok || net.ParseIP(ip) == nil {
			return usagef("--master wants NAME=IP, not %q", s)
		}
		if err := api.ValidHostname(n); err != nil {
			return usagef("invalid master name %q: %v", n, err)
		}
		ms = append(ms, keys.MasterSpec{Name: n, IP: ip, APIPort: c.Int("api-port"),
			ClientPort: c.Int("etcd-client-port"), PeerPort: c.Int("etcd-peer-port")})
	}
	err := master.InitClusterDir(c.String("dir"), master.InitOptions{
		Name: name, Masters: ms, MACPrefix: c.String("mac-prefix"), NodeLeaseTTL: c.Int("node-lease-ttl"),
		ClusterIP: c.String("cluster-ip"), ClusterIPDev: c.String("cluster-ip-dev"),
	})
	if err != nil {
		return err
	}
	d, err := master.LoadClusterDir(c.String("dir"))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Cluster %s initialised in %s\n", name, d.Dir)
	for _, m := range ms {
		fmt.Fprintf(c.App.Writer, "  start master %s with: drover master --dir %s --name %s\n", m.Name, d.Dir, m.Name)
	}
	fmt.Fprintf(c.App.Writer, "  then: export DROVER_API=%s DROVER_CA=%s DROVER_TOKEN=@%s\n",
		strings.Join(d.APIURLs(), ","), d.CAFile(), d.AdminTokenFile())
	return nil
}

func printClusterInfo(w io.Writer, ci *api.ClusterInfo) {
	fmt.Fprintf(w, "Cluster name: %s\n", ci.Name)
	fmt.Fprintf(w, "Cluster UUID: %s\n", ci.UUID)
	fmt.Fprintf(w, "Created: %s\n", fmtTime(&ci.CreatedAt))
	fmt.Fprintf(w, "Leader: %s\n", orDash(ci.Leader))
	fmt.Fprintf(w, "Epoch: %d\n", ci.Epoch)
	fmt.Fprintf(w, "Answered by: %s (version %s)\n", ci.AnsweredBy, ci.Version)
	fmt.Fprintf(w, "MAC prefix: %s\n", ci.MACPrefix)
	fmt.Fprintf(w, "Node lease TTL: %ds\n", ci.NodeLeaseTTL)
	if len(ci.PingTargets) > 0 {
		fmt.Fprintf(w, "Ping targets: %s (migration away from a node without uplink: %s)\n", api.PingTargetsString(ci.PingTargets), yesNo(ci.UplinkMigrate))
	}
	if ci.ClusterIP != "" {
		fmt.Fprintf(w, "Cluster IP: %s on %s (held by the leader)\n", ci.ClusterIP, ci.ClusterIPDev)
	}
	fmt.Fprintf(w, "Nodes: %d\n", ci.NodeCount)
	fmt.Fprintf(w, "Pending jobs: %d\n", ci.JobsPending)
	fmt.Fprintln(w, "Masters:")
	for _, m := range ci.Masters {
		role := "follower"
		if m.Leader {
			role = "leader"
		}
		health := "healthy"
		if !m.Healthy {
			health = "DOWN"
		}
		fmt.Fprintf(w, "  - %s %s (%s, %s)\n", m.Name, m.APIURL, role, health)
	}
}
