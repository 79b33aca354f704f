package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// field is one selectable column of a list (gnt-* "-o" fields).
type field[T any] struct {
	name   string
	header string
	get    func(T) string
}

// fieldSet is the columns a noun offers and the default selection.
type fieldSet[T any] struct {
	fields   []field[T]
	defaults []string
	// sizes gives, for the size fields, their value(s) in MiB, shown in
	// the unit of --units when it is given.
	sizes map[string]func(T) []int64
}

// value is f's text for it in units u ("" for the field's default).
func (fs fieldSet[T]) value(f field[T], it T, u string) string {
	size := fs.sizes[f.name]
	if u == "" || size == nil {
		return f.get(it)
	}
	var parts []string
	for _, n := range size(it) {
		parts = append(parts, fmtUnits(n, u))
	}
	return orDash(strings.Join(parts, ","))
}

func (fs fieldSet[T]) names() []string {
	var n []string
	for _, f := range fs.fields {
		n = append(n, f.name)
	}
	sort.Strings(n)
	return n
}

// selectFields resolves "-o a,b" (replace) or "-o +c" (append to defaults).
func (fs fieldSet[T]) selectFields(spec string) ([]field[T], error) {
	names := fs.defaults
	if spec != "" {
		if strings.HasPrefix(spec, "+") {
			names = append(append([]string{}, fs.defaults...), splitList(spec[1:])...)
		} else {
			names = splitList(spec)
		}
	}
	var out []field[T]
	for _, n := range names {
		found := false
		for _, f := range fs.fields {
			if f.name == n {
				out = append(out, f)
				found = true
				break
			}
		}
		if !found {
			return nil, usagef("unknown field %q (known: %s)", n, strings.Join(fs.names(), ","))
		}
	}
	return out, nil
}

// listFlags are the flags every list verb takes.
func listFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "fields", Aliases: []string{"o"}, Usage: "comma-separated fields to show; +f,... adds to the defaults"},
		&cli.BoolFlag{Name: "no-headers", Usage: "do not print the header line"},
		&cli.StringFlag{Name: "separator", Usage: "separate columns with this string instead of aligning them"},
		&cli.BoolFlag{Name: "list-fields", Usage: "print the available fields and exit"},
		unitsFlag(),
	}
}

// outputJSON reports whether --output json was asked for (global or local).
func outputJSON(c *cli.Context) bool {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet("output") {
			return ctx.String("output") == "json"
		}
	}
	return false
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printList prints items as a table (or JSON with --output json).
func printList[T any](c *cli.Context, fs fieldSet[T], items []T) error {
	w := c.App.Writer
	if c.Bool("list-fields") {
		for _, f := range fs.fields {
			fmt.Fprintf(w, "%s\t%s\n", f.name, f.header)
		}
		return nil
	}
	sel, err := fs.selectFields(c.String("fields"))
	if err != nil {
		return err
	}
	units := c.String("units")
	if err := checkUnits(units); err != nil {
		return err
	}
	if outputJSON(c) {
		if c.IsSet("fields") { // selected fields only, as objects
			rows := make([]map[string]string, 0, len(items))
			for _, it := range items {
				m := map[string]string{}
				for _, f := range sel {
					m[f.name] = fs.value(f, it, units)
				}
				rows = append(rows, m)
			}
			return printJSON(w, rows)
		}
		if items == nil {
			items = []T{}
		}
		return printJSON(w, items)
	}
	sep := c.String("separator")
	var tw *tabwriter.Writer
	out := w
	if !c.IsSet("separator") {
		tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		out = tw
		sep = "\t"
	}
	if !c.Bool("no-headers") {
		var h []string
		for _, f := range sel {
			h = append(h, f.header)
		}
		fmt.Fprintln(out, strings.Join(h, sep))
	}
	for _, it := range items {
		var row []string
		for _, f := range sel {
			row = append(row, fs.value(f, it, units))
		}
		fmt.Fprintln(out, strings.Join(row, sep))
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// filterNamed keeps the items named in names, in the order of names; a name
// that matches none is unknown_entity (exit 4), as gnt-* do.
func filterNamed[T any](noun string, items []T, names []string, name func(T) string) ([]T, error) {
	if len(names) == 0 {
		return items, nil
	}
	var keep []T
	for _, n := range names {
		found := false
		for _, it := range items {
			if name(it) == n {
				keep, found = append(keep, it), true
				break
			}
		}
		if !found {
			return nil, api.Errorf(api.CodeUnknownEntity, "%s %s not found", noun, n)
		}
	}
	return keep, nil
}
