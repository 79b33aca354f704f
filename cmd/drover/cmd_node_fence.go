package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence"
)

// nodeFenceFlags are node modify's flags for the fence device (docs/ha.md).
func nodeFenceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "fence-agent", Usage: "the node's STONITH agent (fence_ipmilan, fence_redfish, ...; none removes the device)"},
		&cli.StringFlag{Name: "fence-param", Usage: "the agent's parameters as name=value,... (ip=,ipport=,username=,password=,lanplus=1,...); secret ones are never shown"},
	}
}

// nodeModifyFence sets the fence device when node modify got its flags; it
// reports whether it did. The device is set through PUT /nodes/NAME/fence,
// not a job, so that its password never lands in a job's parameters.
func nodeModifyFence(c *cli.Context, name string) (bool, error) {
	if !c.IsSet("fence-agent") && !c.IsSet("fence-param") {
		return false, nil
	}
	agent := c.String("fence-agent")
	cl, err := newClient(c)
	if err != nil {
		return true, err
	}
	var f *api.NodeFence
	if agent != "none" {
		if agent == "" {
			return true, usagef("--fence-param needs --fence-agent")
		}
		p, err := fence.ParseParams(c.String("fence-param"))
		if err != nil {
			return true, usagef("%s", err.Error())
		}
		d := fence.Device{Agent: agent, Params: p}
		if err := d.Validate(); err != nil {
			return true, usagef("%s", err.Error())
		}
		f = &api.NodeFence{Agent: agent, Params: p}
	}
	n, err := cl.SetNodeFence(c.Context, name, f)
	if err != nil {
		return true, err
	}
	if n.Fence == nil {
		fmt.Fprintf(c.App.Writer, "Node %s: fence device removed\n", name)
	} else {
		fmt.Fprintf(c.App.Writer, "Node %s: fence device %s\n", name, fenceString(n.Fence))
	}
	return true, nil
}

// fenceString shows a device (secrets already hidden by the server).
func fenceString(f *api.NodeFence) string {
	if f == nil {
		return "-"
	}
	var ps []string
	for _, k := range slices.Sorted(maps.Keys(f.Params)) {
		ps = append(ps, k+"="+f.Params[k])
	}
	return fmt.Sprintf("%s %s", f.Agent, strings.Join(ps, ","))
}

// nodePowerCommand is `node power on|off|status NAME`.
func nodePowerCommand() *cli.Command {
	return &cli.Command{
		Name:      "power",
		Usage:     "power a node on or off, or show its power, through its fence device (a job)",
		ArgsUsage: "on|off|status NAME",
		Flags: append(submitFlags(),
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation (off)"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return usagef("node power needs an action (on, off, status) and a node name")
			}
			action, name := c.Args().Get(0), c.Args().Get(1)
			switch action {
			case api.PowerOn, api.PowerStatus:
			case api.PowerOff:
				if err := confirm(c, fmt.Sprintf("Power off node %s (its instances fail over)?", name)); err != nil {
					return err
				}
			default:
				return usagef("node power %q: want on, off or status", action)
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			id, err := cl.NodePower(c.Context, name, action)
			if err != nil {
				return err
			}
			if err := followJob(c, cl, id); err != nil || c.Bool("submit") || outputJSON(c) {
				return err
			}
			j, err := cl.GetJob(c.Context, id)
			if err != nil {
				return err
			}
			var res api.FenceResult
			if json.Unmarshal(j.Result, &res) == nil && res.Power != "" {
				fmt.Fprintf(c.App.Writer, "Node %s: power %s\n", name, res.Power)
			}
			return nil
		},
	}
}

// printNodeHealth is node info's part for liveness and fencing.
func printNodeHealth(w io.Writer, n api.Node) {
	fmt.Fprintf(w, "  Fence device: %s\n", fenceString(n.Fence))
	fmt.Fprintf(w, "  Watchdog: %s\n", orDash(n.Watchdog))
	if u := n.Uplink; u != nil {
		fmt.Fprintf(w, "  Uplink: %s since %s (targets %s; answering %s)\n", api.UplinkWord(u),
			u.Since.Format(time.RFC3339), strings.Join(u.Targets, ","), orDash(strings.Join(u.Reachable, ",")))
	}
	h := n.Health
	if h == nil {
		return
	}
	fmt.Fprintf(w, "  Liveness: %s since %s", h.State, h.Since.Format(time.RFC3339))
	if h.Method != "" {
		fmt.Fprintf(w, " (%s)", h.Method)
	}
	fmt.Fprintln(w)
	if h.NeedsOperator {
		fmt.Fprintf(w, "  NEEDS OPERATOR: %s\n", h.Reason)
	}
	if f := h.LastFence; f != nil {
		res := "ok"
		if !f.OK {
			res = "failed: " + f.Error
		}
		fmt.Fprintf(w, "  Last fence: %s at %s, %s, power %s, %d attempt(s), %v\n", f.Action, f.At.Format(time.RFC3339),
			res, f.Power, f.Attempts, f.Duration.Round(time.Millisecond))
	}
	for _, t := range h.Transitions {
		fmt.Fprintf(w, "    %s  %-11s %s\n", t.At.Format("2006-01-02T15:04:05.000Z07:00"), t.State, t.Reason)
	}
}
