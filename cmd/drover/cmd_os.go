package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// osRow is one OS variant (or invalid OS) as `os list` shows it: which
// nodes have it valid, and which have it broken.
type osRow struct {
	Ref        string   `json:"ref"`
	Name       string   `json:"name"`
	Variant    string   `json:"variant,omitempty"`
	Parameters []string `json:"parameters,omitempty"`
	Nodes      []string `json:"nodes"`
	Invalid    []string `json:"invalid_on,omitempty"` // "node: reason"
}

var osFields = fieldSet[osRow]{
	defaults: []string{"ref", "nodes", "parameters"},
	fields: []field[osRow]{
		{"ref", "OS", func(o osRow) string { return o.Ref }},
		{"name", "Name", func(o osRow) string { return o.Name }},
		{"variant", "Variant", func(o osRow) string { return orDash(o.Variant) }},
		{"parameters", "Parameters", func(o osRow) string { return orDash(strings.Join(o.Parameters, ",")) }},
		{"nodes", "Nodes", func(o osRow) string { return orDash(strings.Join(o.Nodes, ",")) }},
		{"invalid", "Invalid_on", func(o osRow) string { return orDash(strings.Join(o.Invalid, "; ")) }},
	},
}

// osRows folds the nodes' reports into one row per NAME+VARIANT.
func osRows(nodes []api.Node) []osRow {
	rows := map[string]*osRow{}
	row := func(ref, name, variant string) *osRow {
		if rows[ref] == nil {
			rows[ref] = &osRow{Ref: ref, Name: name, Variant: variant, Nodes: []string{}}
		}
		return rows[ref]
	}
	for _, n := range nodes {
		for _, o := range n.OSDefinitions {
			if o.Error != "" {
				r := row(o.Name, o.Name, "")
				r.Invalid = append(r.Invalid, n.Name+": "+o.Error)
				continue
			}
			variants := o.Variants
			if len(variants) == 0 {
				variants = []string{""}
			}
			for _, v := range variants {
				ref := o.Name
				if v != "" {
					ref += "+" + v
				}
				r := row(ref, o.Name, v)
				r.Nodes = append(r.Nodes, n.Name)
				for p := range o.Parameters {
					if !slices.Contains(r.Parameters, p) {
						r.Parameters = append(r.Parameters, p)
					}
				}
			}
		}
	}
	out := make([]osRow, 0, len(rows))
	for _, r := range rows {
		slices.Sort(r.Parameters)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b osRow) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}

func osCommand() *cli.Command {
	return &cli.Command{
		Name:  "os",
		Usage: "Ganeti OS definitions on the nodes (gnt-os)",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list the OS definitions (NAME+VARIANT) the nodes' agents report, and where each is valid",
			Flags: listFlags(),
			Action: func(c *cli.Context) error {
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				nodes, err := cl.ListNodes(c.Context, api.NodeQuery{})
				if err != nil {
					return err
				}
				return printList(c, osFields, osRows(nodes))
			},
		}},
	}
}
