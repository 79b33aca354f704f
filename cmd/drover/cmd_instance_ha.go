package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// haBEKeys are the -B parameters that are HA properties (docs/ha.md,
// "Instance HA properties").
const haBEKeys = "ha_priority, migration_threshold, failback, location"

// parseHABE takes the HA properties out of a -B list and returns the rest
// (vcpus, memory, ...) for parseBE. location=NODE:SCORE,NODE:SCORE takes
// the items after it that have no "=" ("location=" clears the scores).
func parseHABE(s string) (ha api.InstanceHAModify, rest string, err error) {
	var others []string
	var loc map[string]int
	inLocation := false
	for _, kv := range splitList(s) {
		k, v, hasEq := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !hasEq && inLocation {
			if err := addLocation(loc, kv); err != nil {
				return ha, "", err
			}
			continue
		}
		inLocation = false
		switch k {
		case "failback":
			var on bool
			switch strings.ToLower(v) {
			case "on", "yes", "true":
				on = true
			case "off", "no", "false":
			default:
				return ha, "", usagef("-B failback=%q: want on or off", v)
			}
			ha.Failback = &on
		case "location":
			loc, inLocation = map[string]int{}, true
			ha.Location = &loc
			if v != "" {
				if err := addLocation(loc, v); err != nil {
					return ha, "", err
				}
			}
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

// addLocation reads NODE:SCORE into loc; SCORE is an integer, INFINITY or
// -INFINITY (Pacemaker's words).
func addLocation(loc map[string]int, item string) error {
	node, score, ok := strings.Cut(strings.TrimSpace(item), ":")
	if !ok || node == "" {
		return usagef("-B location: %q: want NODE:SCORE", item)
	}
	var n int
	switch strings.ToUpper(strings.TrimSpace(score)) {
	case "INFINITY", "+INFINITY", "INF":
		n = api.LocationInfinity
	case "-INFINITY", "-INF":
		n = api.LocationNever
	default:
		var err error
		if n, err = strconv.Atoi(strings.TrimSpace(score)); err != nil {
			return usagef("-B location: score %q of %s: want an integer, INFINITY or -INFINITY", score, node)
		}
	}
	if _, dup := loc[node]; dup {
		return usagef("-B location: %s given twice", node)
	}
	loc[node] = n
	return nil
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
	fmt.Fprintf(w, "  HA: ha_priority=%d, migration_threshold=%d, failback=%s, location=%s\n", i.HAPriority, i.MigrationThreshold,
		onOff(i.Failback), orDash(fmtLocation(i.Location)))
	if i.HA == nil {
		return
	}
	if i.HA.FailedOverFrom != "" {
		fmt.Fprintf(w, "  Failed over from: %s\n", i.HA.FailedOverFrom)
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

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// fmtLocation prints scores as -B takes them, best first (then by name).
func fmtLocation(loc map[string]int) string {
	nodes := slices.Collect(maps.Keys(loc))
	slices.SortFunc(nodes, func(a, b string) int {
		if c := cmp.Compare(loc[b], loc[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var out []string
	for _, n := range nodes {
		switch s := loc[n]; s {
		case api.LocationInfinity:
			out = append(out, n+":INFINITY")
		case api.LocationNever:
			out = append(out, n+":-INFINITY")
		default:
			out = append(out, n+":"+strconv.Itoa(s))
		}
	}
	return strings.Join(out, ",")
}
