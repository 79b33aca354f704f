package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

var templateFields = fieldSet[api.Template]{
	defaults: []string{"name", "version", "suite", "size", "packages", "tool", "built"},
	fields: []field[api.Template]{
		{"name", "Template", func(t api.Template) string { return t.Name }},
		{"version", "Version", func(t api.Template) string { return strconv.Itoa(t.Version) }},
		{"ref", "Ref", func(t api.Template) string { return fmt.Sprintf("%s@%d", t.Name, t.Version) }},
		{"suite", "Suite", func(t api.Template) string { return orDash(t.Suite) }},
		{"variant", "Variant", func(t api.Template) string { return orDash(t.Variant) }},
		{"size", "Size", func(t api.Template) string { return fmtBytes(t.Size) }},
		{"packages", "Packages", func(t api.Template) string { return strconv.Itoa(t.Packages) }},
		{"tool", "Tool", func(t api.Template) string { return orDash(t.Tool) }},
		{"built", "Built", func(t api.Template) string { return fmtTime(&t.BuildDate) }},
		{"digest", "Digest", func(t api.Template) string { return t.Digest }},
		{"master", "Master", func(t api.Template) string { return t.Master }},
		{"includes", "Includes", func(t api.Template) string { return orDash(strings.Join(t.Includes, ",")) }},
	},
}

// fmtBytes prints a size in binary units.
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func templateCommand() *cli.Command {
	return &cli.Command{
		Name:  "template",
		Usage: "build, import, list, inspect and remove OS templates",
		Subcommands: []*cli.Command{
			{
				Name:      "build",
				Usage:     "bootstrap a Debian template on the master leader (a job; debootstrap or mmdebstrap)",
				ArgsUsage: "NAME",
				Flags: append(submitFlags(),
					&cli.StringFlag{Name: "suite", Value: "bookworm", Usage: "Debian suite"},
					&cli.StringFlag{Name: "variant", Usage: "bootstrap variant (default minbase)"},
					&cli.StringFlag{Name: "include", Usage: "extra packages, comma-separated"},
					&cli.StringFlag{Name: "mirror", Usage: "Debian mirror URL"},
				),
				Action: templateBuild,
			},
			{
				Name:      "import",
				Usage:     "store a root filesystem tarball (zstd, gzip or plain tar) made elsewhere as a new version",
				ArgsUsage: "NAME FILE",
				Action:    templateImport,
			},
			{
				Name:   "list",
				Usage:  "list templates (every version)",
				Flags:  listFlags(),
				Action: templateList,
			},
			{
				Name:      "info",
				Usage:     "show templates in detail (NAME or NAME@VERSION)",
				ArgsUsage: "REF...",
				Action:    templateInfo,
			},
			{
				Name:      "remove",
				Usage:     "remove a template version (NAME@VERSION) or every version (NAME)",
				ArgsUsage: "REF",
				Flags: append(submitFlags(),
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "do not ask for confirmation"},
				),
				Action: templateRemove,
			},
		},
	}
}

// trailingFlags reads string flags given after the positional arguments
// (`template build NAME --suite bookworm`), which urfave/cli leaves in the
// arguments; it returns the positional arguments and the flags' values.
func trailingFlags(args []string, names ...string) ([]string, map[string]string, error) {
	var pos []string
	vals := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		known := false
		for _, n := range names {
			known = known || n == name
		}
		if !known {
			return nil, nil, usagef("unknown flag %s", a)
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, nil, usagef("flag %s needs a value", a)
			}
			i++
			val = args[i]
		}
		vals[name] = val
	}
	return pos, vals, nil
}

func templateBuild(c *cli.Context) error {
	pos, late, err := trailingFlags(c.Args().Slice(), "suite", "variant", "include", "mirror")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("template build needs one template name")
	}
	get := func(n string) string {
		if v, ok := late[n]; ok {
			return v
		}
		return c.String(n)
	}
	b := api.TemplateBuild{Name: pos[0], Suite: get("suite"), Variant: get("variant"), Mirror: get("mirror")}
	if s := get("include"); s != "" {
		b.Include = splitList(s)
	}
	if err := b.Validate(); err != nil {
		return usagef("%s", api.AsError(err).Message)
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	id, err := cl.BuildTemplate(c.Context, b)
	if err != nil {
		return err
	}
	return followJob(c, cl, id)
}

func templateImport(c *cli.Context) error {
	if c.NArg() != 2 {
		return usagef("template import needs a template name and a tarball file")
	}
	name, file := c.Args().Get(0), c.Args().Get(1)
	if !api.ValidTemplateName(name) {
		return usagef("template name %q: want ^[a-z0-9][a-z0-9._-]{0,62}$", name)
	}
	f, err := os.Open(file)
	if err != nil {
		return usagef("template import: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	var r io.Reader = f
	t, err := cl.ImportTemplate(c.Context, name, r, fi.Size())
	if err != nil {
		return err
	}
	if outputJSON(c) {
		return printJSON(c.App.Writer, t)
	}
	fmt.Fprintf(c.App.Writer, "Template %s@%d imported: %s, %s\n", t.Name, t.Version, fmtBytes(t.Size), t.Digest)
	return nil
}

func templateList(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	ts, err := cl.ListTemplates(c.Context)
	if err != nil {
		return err
	}
	return printList(c, templateFields, ts)
}

func templateInfo(c *cli.Context) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	refs := c.Args().Slice()
	if len(refs) == 0 {
		ts, err := cl.ListTemplates(c.Context)
		if err != nil {
			return err
		}
		for _, t := range ts {
			refs = append(refs, fmt.Sprintf("%s@%d", t.Name, t.Version))
		}
	}
	var out []api.Template
	for _, r := range refs {
		t, err := cl.GetTemplate(c.Context, r)
		if err != nil {
			return err
		}
		out = append(out, *t)
	}
	if outputJSON(c) {
		return printJSON(c.App.Writer, out)
	}
	w := c.App.Writer
	for _, t := range out {
		fmt.Fprintf(w, "Template: %s@%d\n", t.Name, t.Version)
		fmt.Fprintf(w, "  Digest: %s\n", t.Digest)
		fmt.Fprintf(w, "  Size: %s\n", fmtBytes(t.Size))
		fmt.Fprintf(w, "  Suite: %s, variant %s, tool %s\n", orDash(t.Suite), orDash(t.Variant), orDash(t.Tool))
		fmt.Fprintf(w, "  Includes: %s\n", orDash(strings.Join(t.Includes, ", ")))
		fmt.Fprintf(w, "  Packages: %d\n", t.Packages)
		fmt.Fprintf(w, "  Built: %s\n", fmtTime(&t.BuildDate))
		fmt.Fprintf(w, "  Stored on master: %s (registered %s)\n", t.Master, fmtTime(&t.CreatedAt))
	}
	return nil
}

func templateRemove(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("template remove needs one NAME or NAME@VERSION")
	}
	ref := c.Args().First()
	name, v, hasV := strings.Cut(ref, "@")
	version := 0
	if hasV {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return usagef("template remove: bad version in %q", ref)
		}
		version = n
	}
	what := "every version of template " + name
	if version > 0 {
		what = "template " + ref
	}
	if err := confirm(c, fmt.Sprintf("Remove %s?", what)); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	id, err := cl.RemoveTemplate(c.Context, name, version)
	if err != nil {
		return err
	}
	return followJob(c, cl, id)
}
