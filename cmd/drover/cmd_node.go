package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

func res(n api.Node, f func(*api.NodeResources) int64) string {
	if n.Resources == nil {
		return "?"
	}
	return strconv.FormatInt(f(n.Resources), 10)
}

// resSize is the sizes func of a node resource field (none when the node
// reports nothing).
func resSize(f func(*api.NodeResources) int64) func(api.Node) []int64 {
	return func(n api.Node) []int64 {
		if n.Resources == nil {
			return nil
		}
		return []int64{f(n.Resources)}
	}
}

var nodeFields = fieldSet[api.Node]{
	defaults: []string{"name", "status", "mtotal", "mfree", "dtotal", "dfree", "hv"},
	fields: []field[api.Node]{
		{"name", "Node", func(n api.Node) string { return n.Name }},
		{"status", "Status", func(n api.Node) string { return n.Status }},
		{"uuid", "UUID", func(n api.Node) string { return n.UUID }},
		{"pip", "PrimaryIP", func(n api.Node) string { return orDash(n.PrimaryIP) }},
		{"sip", "SecondaryIP", func(n api.Node) string { return orDash(n.SecondaryIP) }},
		{"group", "Group", func(n api.Node) string { return n.Group }},
		{"master_capable", "MasterCapable", func(n api.Node) string { return yesNo(n.MasterCapable) }},
		{"vm_capable", "VMCapable", func(n api.Node) string { return yesNo(n.VMCapable) }},
		{"drained", "Drained", func(n api.Node) string { return yesNo(n.Drained) }},
		{"offline", "Offline", func(n api.Node) string { return yesNo(n.Offline) }},
		{"hv", "Hypervisor", func(n api.Node) string { return orDash(n.Hypervisor) }},
		{"hv_ok", "HVOk", func(n api.Node) string { return yesNo(n.HypervisorOK) }},
		{"mtotal", "MTotal", func(n api.Node) string { return res(n, func(r *api.NodeResources) int64 { return r.MemoryTotalMiB }) }},
		{"mfree", "MFree", func(n api.Node) string { return res(n, func(r *api.NodeResources) int64 { return r.MemoryFreeMiB }) }},
		{"dtotal", "DTotal", func(n api.Node) string { return res(n, func(r *api.NodeResources) int64 { return r.DiskTotalMiB }) }},
		{"dfree", "DFree", func(n api.Node) string { return res(n, func(r *api.NodeResources) int64 { return r.DiskFreeMiB }) }},
		{"ctotal", "CTotal", func(n api.Node) string {
			if n.Resources == nil {
				return "?"
			}
			return strconv.Itoa(n.Resources.CPUs)
		}},
		{"tags", "Tags", func(n api.Node) string { return strings.Join(n.Tags, ",") }},
		{"last_seen", "LastSeen", func(n api.Node) string { return fmtTime(n.LastSeen) }},
		{"agent_version", "AgentVersion", func(n api.Node) string { return orDash(n.AgentVersion) }},
		{"uplink", "Uplink", func(n api.Node) string { return api.UplinkWord(n.Uplink) }},
		{"fence", "Fence", func(n api.Node) string {
			if n.Fence == nil {
				return "-"
			}
			return n.Fence.Agent
		}},
	},
	sizes: map[string]func(api.Node) []int64{
		"mtotal": resSize(func(r *api.NodeResources) int64 { return r.MemoryTotalMiB }),
		"mfree":  resSize(func(r *api.NodeResources) int64 { return r.MemoryFreeMiB }),
		"dtotal": resSize(func(r *api.NodeResources) int64 { return r.DiskTotalMiB }),
		"dfree":  resSize(func(r *api.NodeResources) int64 { return r.DiskFreeMiB }),
	},
}

// boolArg parses Ganeti's yes/no flag values.
func boolArg(name, v string) (*bool, error) {
	switch strings.ToLower(v) {
	case "yes", "y", "true", "1", "on":
		b := true
		return &b, nil
	case "no", "n", "false", "0", "off":
		b := false
		return &b, nil
	}
	return nil, usagef("--%s wants yes or no, not %q", name, v)
}

func nodeCommand() *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "add, list, inspect, modify and remove nodes",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "register a node and write the credentials its agent joins with",
				ArgsUsage: "NAME",
				Flags: append(submitFlags(),
					&cli.StringFlag{Name: "primary-ip", Usage: "address the node is reached on"},
					&cli.StringFlag{Name: "secondary-ip", Aliases: []string{"s"}, Usage: "replication (DRBD) address"},
					&cli.StringFlag{Name: "group", Aliases: []string{"g"}, Usage: "node group"},
					&cli.StringFlag{Name: "master-capable", Usage: "yes|no (default yes)"},
					&cli.StringFlag{Name: "vm-capable", Usage: "yes|no (default yes)"},
					&cli.StringFlag{Name: "credentials", Usage: "write the agent's credentials to this file (default NAME.credentials.json)"},
				),
				Action: nodeAdd,
			},
			{
				Name:      "credentials",
				Usage:     "issue new credentials for a node's agent (the old ones stop working)",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "write to this file (default NAME.credentials.json; - for stdout)"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("node credentials needs a node name")
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					return writeCredentials(c, cl, c.Args().First(), c.String("file"))
				},
			},
			{
				Name:      "list",
				Usage:     "list nodes (all, or those named); --filter runs on the masters",
				ArgsUsage: "[NAME...]",
				Flags:     append(listFlags(), filterFlag()),
				Action:    nodeList,
			},
			{
				Name:      "info",
				Usage:     "show nodes in detail",
				ArgsUsage: "[NAME...]",
				Action:    nodeInfo,
			},
			{
				Name:      "modify",
				Usage:     "change a node's flags",
				ArgsUsage: "NAME",
				Flags: append(append(submitFlags(), nodeFenceFlags()...),
					&cli.StringFlag{Name: "drained", Aliases: []string{"D"}, Usage: "yes|no: a drained node gets no new instances"},
					&cli.StringFlag{Name: "offline", Aliases: []string{"O"}, Usage: "yes|no: an offline node is out of service"},
					&cli.StringFlag{Name: "master-capable", Usage: "yes|no"},
					&cli.StringFlag{Name: "vm-capable", Usage: "yes|no"},
					&cli.StringFlag{Name: "secondary-ip", Aliases: []string{"s"}, Usage: "new replication address"},
				),
				Action: nodeModify,
			},
			nodePowerCommand(),
			{
				Name:      "remove",
				Usage:     "remove a node from the cluster",
				ArgsUsage: "NAME",
				Flags: append(submitFlags(),
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("node remove needs one node name")
					}
					name := c.Args().First()
					if err := confirm(c, fmt.Sprintf("Remove node %s from the cluster?", name)); err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					id, err := cl.RemoveNode(c.Context, name)
					if err != nil {
						return err
					}
					return followJob(c, cl, id)
				},
			},
		},
	}
}

func nodeAdd(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("node add needs one node name")
	}
	name := c.Args().First()
	if err := api.ValidHostname(name); err != nil {
		return usagef("invalid node name: %v", err)
	}
	req := api.NodeAdd{Name: name, PrimaryIP: c.String("primary-ip"), SecondaryIP: c.String("secondary-ip"), Group: c.String("group")}
	var err error
	if c.IsSet("master-capable") {
		if req.MasterCapable, err = boolArg("master-capable", c.String("master-capable")); err != nil {
			return err
		}
	}
	if c.IsSet("vm-capable") {
		if req.VMCapable, err = boolArg("vm-capable", c.String("vm-capable")); err != nil {
			return err
		}
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	id, err := cl.AddNode(c.Context, req)
	if err != nil {
		return err
	}
	if c.Bool("submit") {
		return followJob(c, cl, id)
	}
	if err := followJob(c, cl, id); err != nil {
		return err
	}
	return writeCredentials(c, cl, name, c.String("credentials"))
}

func writeCredentials(c *cli.Context, cl *api.Client, name, path string) error {
	cred, err := cl.NodeCredentials(c.Context, name)
	if err != nil {
		return fmt.Errorf("node credentials: %w", err)
	}
	b, err := json.MarshalIndent(cred, "", "  ")
	if err != nil {
		return err
	}
	if path == "-" {
		_, err = c.App.Writer.Write(append(b, '\n'))
		return err
	}
	if path == "" {
		path = name + ".credentials.json"
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	fmt.Fprintf(c.App.ErrWriter, "Credentials for node %s written to %s; start the agent with: drover agent --credentials %s\n", name, path, path)
	return nil
}

func nodeList(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	f, err := listFilters(c, nil)
	if err != nil {
		return err
	}
	nodes, err := cl.ListNodes(c.Context, api.NodeQuery{Filter: f})
	if err != nil {
		return err
	}
	if nodes, err = filterNamed("node", nodes, c.Args().Slice(), func(n api.Node) string { return n.Name }); err != nil {
		return err
	}
	return printList(c, nodeFields, nodes)
}

func nodeInfo(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	var nodes []api.Node
	if c.NArg() == 0 {
		if nodes, err = cl.ListNodes(c.Context, api.NodeQuery{}); err != nil {
			return err
		}
	} else {
		for _, n := range c.Args().Slice() {
			nd, err := cl.GetNode(c.Context, n)
			if err != nil {
				return err
			}
			nodes = append(nodes, *nd)
		}
	}
	if outputJSON(c) {
		return printJSON(c.App.Writer, nodes)
	}
	for _, n := range nodes {
		printNodeInfo(c.App.Writer, n)
	}
	return nil
}

func printNodeInfo(w io.Writer, n api.Node) {
	fmt.Fprintf(w, "Node name: %s\n", n.Name)
	fmt.Fprintf(w, "  UUID: %s\n", n.UUID)
	fmt.Fprintf(w, "  Status: %s\n", n.Status)
	fmt.Fprintf(w, "  Primary IP: %s\n", orDash(n.PrimaryIP))
	fmt.Fprintf(w, "  Secondary IP: %s\n", orDash(n.SecondaryIP))
	fmt.Fprintf(w, "  Group: %s\n", n.Group)
	fmt.Fprintf(w, "  Master capable: %s\n", yesNo(n.MasterCapable))
	fmt.Fprintf(w, "  VM capable: %s\n", yesNo(n.VMCapable))
	fmt.Fprintf(w, "  Drained: %s\n", yesNo(n.Drained))
	fmt.Fprintf(w, "  Offline: %s\n", yesNo(n.Offline))
	fmt.Fprintf(w, "  Added: %s\n", fmtTime(&n.AddedAt))
	fmt.Fprintf(w, "  Hypervisor: %s (ok: %s)\n", orDash(n.Hypervisor), yesNo(n.HypervisorOK))
	if n.HypervisorError != "" {
		fmt.Fprintf(w, "  Hypervisor error: %s\n", n.HypervisorError)
	}
	fmt.Fprintf(w, "  Agent: version %s, started %s, last seen %s\n", orDash(n.AgentVersion), fmtTime(n.AgentStartedAt), fmtTime(n.LastSeen))
	if r := n.Resources; r != nil {
		fmt.Fprintf(w, "  Memory: %d MiB total, %d MiB free\n", r.MemoryTotalMiB, r.MemoryFreeMiB)
		fmt.Fprintf(w, "  Disk: %d MiB total, %d MiB free\n", r.DiskTotalMiB, r.DiskFreeMiB)
		fmt.Fprintf(w, "  CPUs: %d\n", r.CPUs)
	}
	if s := n.Storage; s != nil {
		fmt.Fprintf(w, "  Volume group: %s, %d MiB, %d MiB free\n", orDash(s.VG), s.VGSizeMiB, s.VGFreeMiB)
		fmt.Fprintf(w, "  DRBD: %s (drbd-utils %s)\n", orDash(s.DRBDVersion), orDash(s.DRBDUtils))
		if s.Error != "" {
			fmt.Fprintf(w, "  Storage error: %s\n", s.Error)
		}
	}
	printNodeDRBD(w, n.DRBD)
	printNodeHealth(w, n)
	if len(n.Tags) > 0 {
		fmt.Fprintf(w, "  Tags: %s\n", strings.Join(n.Tags, ", "))
	}
}

func nodeModify(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("node modify needs one node name")
	}
	var m api.NodeModify
	var err error
	set := 0
	for _, f := range []struct {
		name string
		dst  **bool
	}{{"drained", &m.Drained}, {"offline", &m.Offline}, {"master-capable", &m.MasterCapable}, {"vm-capable", &m.VMCapable}} {
		if c.IsSet(f.name) {
			if *f.dst, err = boolArg(f.name, c.String(f.name)); err != nil {
				return err
			}
			set++
		}
	}
	if c.IsSet("secondary-ip") {
		s := c.String("secondary-ip")
		m.SecondaryIP = &s
		set++
	}
	fenced, err := nodeModifyFence(c, c.Args().First())
	if err != nil || (fenced && set == 0) {
		return err
	}
	if set == 0 {
		return usagef("node modify: nothing to change (use --drained, --offline, --master-capable, --vm-capable, --secondary-ip, --fence-agent)")
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	id, err := cl.ModifyNode(c.Context, c.Args().First(), m)
	if err != nil {
		return err
	}
	return followJob(c, cl, id)
}
