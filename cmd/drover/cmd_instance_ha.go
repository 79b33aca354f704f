package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// haBEKeys are the -B parameters that are HA properties (docs/ha.md,
// "Instance HA properties").
const haBEKeys = "ha_priority, migration_threshold"

// parseHABE takes the HA properties out of a -B list and returns the rest
// (vcpus, memory, ...) for parseBE.
func parseHABE(s string) (ha api.InstanceHAModify, rest string, err error) {
	var others []string
	for _, kv := range splitList(s) {
		k, v, _ := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "ha_priority":
			n, err := strconv.Atoi(v)
			if err != nil {
				return ha, "", usagef("-B ha_priority=%q: want an integer", v)
			}
			ha.HAPriority = &n
		case "migration_threshold":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return ha, "", usagef("-B migration_threshold=%q: want a number (0: off)", v)
			}
			ha.MigrationThreshold = &n
		default:
			others = append(others, kv)
		}
	}
	return ha, strings.Join(others, ","), nil
}

// instanceHACommands are the instance commands of the HA properties.
func instanceHACommands() []*cli.Command {
	return []*cli.Command{{
		Name:      "cleanup",
		Usage:     "clear the failure counts of an instance (every node's, or --node's), as crm_resource --cleanup does",
		ArgsUsage: "NAME",
		Flags:     append(submitFlags(), &cli.StringFlag{Name: "node", Usage: "clear only this node's count"}),
		Action: oneInstance("cleanup", "", func(c *cli.Context, cl *api.Client, n string) (uint64, error) {
			return cl.CleanupInstance(c.Context, n, api.CleanupOptions{Node: c.String("node")})
		}),
	}}
}

// printInstanceHA prints the HA lines of instance info.
func printInstanceHA(w io.Writer, i api.Instance) {
	fmt.Fprintf(w, "  HA: ha_priority=%d, migration_threshold=%d\n", i.HAPriority, i.MigrationThreshold)
	if i.HA == nil {
		return
	}
	if len(i.HA.FailCounts) > 0 {
		fmt.Fprintf(w, "  Failure counts (instance cleanup clears them):\n")
		for _, f := range i.HA.FailCounts {
			fmt.Fprintf(w, "    - %s: %d, last at %s: %s\n", f.Node, f.Count, fmtTime(&f.LastAt), orDash(f.LastError))
		}
	}
	if len(i.HA.Events) > 0 {
		fmt.Fprintf(w, "  HA events:\n")
		for _, e := range i.HA.Events {
			fmt.Fprintf(w, "    %s  %-16s %-8s %s\n", fmtTime(&e.Time), e.Kind, orDash(e.Node), e.Message)
		}
	}
}
