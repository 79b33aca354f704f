package allocli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/allocator/htools"
)

// errAllocUsage marks bad command-line input to the alloc commands.
var errAllocUsage = errors.New("bad usage")

// Command is "drover alloc" (and "drover-alloc"): the allocator offline, on htools text files,
// mirroring hail (allocate), hbal (balance), hspace (capacity) and evacuation.
func Command() *cli.Command {
	file := &cli.StringFlag{Name: "text-data", Aliases: []string{"t"}, Required: true,
		Usage: "cluster in the Ganeti htools text format (as hbal -t)"}
	output := &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "text or json"}
	tmpl := &cli.StringFlag{Name: "disk-template", Value: "drbd", Usage: "disk template of the new instances"}
	return &cli.Command{
		Name:  "alloc",
		Usage: "offline placement, balancing and capacity planning on htools text files",
		Subcommands: []*cli.Command{
			{
				Name:  "allocate",
				Usage: "find the node (or DRBD pair) for a new instance, as hail does",
				Flags: []cli.Flag{file, output, tmpl,
					&cli.StringFlag{Name: "name", Value: "new-instance", Usage: "instance name"},
					&cli.StringFlag{Name: "memory", Required: true, Usage: "memory, MiB or with a unit (4g)"},
					&cli.StringFlag{Name: "disk", Required: true, Usage: "disk, MiB or with a unit (100G)"},
					&cli.IntFlag{Name: "vcpus", Value: 1, Usage: "virtual CPUs"},
				},
				Action: allocAllocate,
			},
			{
				Name:  "balance",
				Usage: "list moves that lower the cluster score, as hbal does",
				Flags: []cli.Flag{file, output,
					&cli.IntFlag{Name: "max-length", Aliases: []string{"l"}, Value: -1, Usage: "at most this many moves (-1: no limit)"},
					&cli.StringFlag{Name: "save", Aliases: []string{"S"}, Usage: "write the balanced cluster to this file"},
				},
				Action: allocBalance,
			},
			{
				Name:  "capacity",
				Usage: "count how many instances of a spec fit, as hspace does",
				Flags: []cli.Flag{file, output, tmpl,
					&cli.StringFlag{Name: "spec", Required: true, Usage: "DISK,MEM,CPU as hspace --standard-alloc (100G,4g,2)"},
					&cli.BoolFlag{Name: "tiered", Usage: "shrink the spec along the failing resource and go on"},
					&cli.StringFlag{Name: "save", Aliases: []string{"S"}, Usage: "write the filled cluster to this file"},
				},
				Action: allocCapacity,
			},
			{
				Name:  "evacuate",
				Usage: "plan moving every instance off a node",
				Flags: []cli.Flag{file, output,
					&cli.StringFlag{Name: "node", Required: true, Usage: "node to evacuate"},
				},
				Action: allocEvacuate,
			},
		},
	}
}

func loadCluster(path string) (*allocator.Cluster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := htools.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func wantJSON(c *cli.Context) (bool, error) {
	switch o := c.String("output"); o {
	case "json":
		return true, nil
	case "text", "":
		return false, nil
	default:
		return false, fmt.Errorf("%w: --output %q: want text or json", errAllocUsage, o)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseSize reads MiB, or a number with unit m, g or t (binary).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "t"):
		mult, t = 1024*1024, strings.TrimSuffix(t, "t")
	case strings.HasSuffix(t, "g"):
		mult, t = 1024, strings.TrimSuffix(t, "g")
	case strings.HasSuffix(t, "m"):
		t = strings.TrimSuffix(t, "m")
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v > 1<<40 {
		return 0, fmt.Errorf("%w: size %q: want MiB or a number with unit m, g or t", errAllocUsage, s)
	}
	return int64(v * float64(mult)), nil
}

func allocAllocate(c *cli.Context) error {
	asJSON, err := wantJSON(c)
	if err != nil {
		return err
	}
	mem, err := parseSize(c.String("memory"))
	if err != nil {
		return err
	}
	disk, err := parseSize(c.String("disk"))
	if err != nil {
		return err
	}
	cl, err := loadCluster(c.String("text-data"))
	if err != nil {
		return err
	}
	res, err := cl.Allocate(allocator.AllocateRequest{Name: c.String("name"), Mem: mem, Disk: disk,
		VCPUs: c.Int("vcpus"), Template: allocator.DiskTemplate(c.String("disk-template"))})
	w := c.App.Writer
	if asJSON && (err == nil || errors.Is(err, allocator.ErrNoFit)) {
		out := struct {
			Success bool `json:"success"`
			allocator.AllocateResult
		}{err == nil, res}
		if jerr := writeJSON(w, out); jerr != nil {
			return jerr
		}
		return err
	}
	if err != nil {
		for _, r := range res.Rejected {
			fmt.Fprintf(w, "  %s (%s): %s: %s\n", r.Node, r.Role, r.Filter, r.Reason)
		}
		return err
	}
	fmt.Fprintf(w, "Instance %s: primary %s", res.Instance, res.Primary)
	if res.Secondary != "" {
		fmt.Fprintf(w, ", secondary %s", res.Secondary)
	}
	fmt.Fprintf(w, "\nCluster score: %.8f -> %.8f\nRejected nodes: %d\n", res.InitialScore, res.Score, len(res.Rejected))
	for _, r := range res.Rejected {
		fmt.Fprintf(w, "  %s (%s): %s: %s\n", r.Node, r.Role, r.Filter, r.Reason)
	}
	return nil
}

func allocBalance(c *cli.Context) error {
	asJSON, err := wantJSON(c)
	if err != nil {
		return err
	}
	cl, err := loadCluster(c.String("text-data"))
	if err != nil {
		return err
	}
	opt := allocator.BalanceOptions{}
	switch l := c.Int("max-length"); {
	case l == 0:
		opt.MaxMoves = -1
	case l > 0:
		opt.MaxMoves = l
	}
	plan := cl.Balance(opt)
	if out := c.String("save"); out != "" {
		if err := saveCluster(out, plan.Cluster); err != nil {
			return err
		}
	}
	w := c.App.Writer
	if asJSON {
		return writeJSON(w, plan)
	}
	fmt.Fprintf(w, "Initial score: %.8f\n", plan.InitialScore)
	for k, m := range plan.Moves {
		fmt.Fprintf(w, "%5d. %-16s %s:%s => %s:%s %.8f a=%s\n", k+1, m.Instance, m.FromPrimary, m.FromSecondary,
			m.Primary, m.Secondary, m.Score, m.Short())
	}
	fmt.Fprintf(w, "Cluster score improved from %.8f to %.8f\nSolution length=%d\n", plan.InitialScore, plan.FinalScore, len(plan.Moves))
	return nil
}

func saveCluster(path string, cl *allocator.Cluster) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := htools.Write(f, cl); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func allocCapacity(c *cli.Context) error {
	asJSON, err := wantJSON(c)
	if err != nil {
		return err
	}
	parts := strings.Split(c.String("spec"), ",")
	if len(parts) != 3 {
		return fmt.Errorf("%w: --spec %q: want DISK,MEM,CPU", errAllocUsage, c.String("spec"))
	}
	disk, err := parseSize(parts[0])
	if err != nil {
		return err
	}
	mem, err := parseSize(parts[1])
	if err != nil {
		return err
	}
	cpus, err := strconv.Atoi(strings.TrimSpace(parts[2]))
	if err != nil || cpus <= 0 {
		return fmt.Errorf("%w: --spec CPU %q: want a positive integer", errAllocUsage, parts[2])
	}
	cl, err := loadCluster(c.String("text-data"))
	if err != nil {
		return err
	}
	res, err := cl.Capacity(allocator.CapacityRequest{Template: allocator.DiskTemplate(c.String("disk-template")),
		Mem: mem, Disk: disk, VCPUs: cpus, Tiered: c.Bool("tiered")})
	if err != nil {
		return err
	}
	if out := c.String("save"); out != "" {
		if err := saveCluster(out, res.Cluster); err != nil {
			return err
		}
	}
	w := c.App.Writer
	if asJSON {
		return writeJSON(w, res)
	}
	fmt.Fprintf(w, "Initial score: %.8f\nInstances allocated: %d\nFailure reason: %s\n", res.InitialScore, res.Total, res.FailReason)
	for _, t := range res.Tiers {
		fmt.Fprintf(w, "  tier mem=%d disk=%d vcpus=%d: %d instances, then %s\n", t.Mem, t.Disk, t.VCPUs, t.Count, t.FailReason)
	}
	fmt.Fprintf(w, "Final score: %.8f\n", res.FinalScore)
	return nil
}

func allocEvacuate(c *cli.Context) error {
	asJSON, err := wantJSON(c)
	if err != nil {
		return err
	}
	cl, err := loadCluster(c.String("text-data"))
	if err != nil {
		return err
	}
	res, err := cl.Evacuate(c.String("node"))
	if err != nil {
		return err
	}
	w := c.App.Writer
	if asJSON {
		return writeJSON(w, res)
	}
	fmt.Fprintf(w, "Initial score: %.8f\n", res.InitialScore)
	for k, m := range res.Moves {
		fmt.Fprintf(w, "%5d. %-16s %s:%s => %s:%s %.8f a=%s", k+1, m.Instance, m.FromPrimary, m.FromSecondary,
			m.Primary, m.Secondary, m.Score, m.Short())
		if m.Note != "" {
			fmt.Fprintf(w, " (%s)", m.Note)
		}
		fmt.Fprintln(w)
	}
	for _, u := range res.Unmovable {
		fmt.Fprintf(w, "Unmovable: %s: %s\n", u.Instance, u.Error)
	}
	fmt.Fprintf(w, "Final score: %.8f\nMoves: %d, unmovable: %d\n", res.FinalScore, len(res.Moves), len(res.Unmovable))
	if len(res.Unmovable) > 0 {
		return fmt.Errorf("evacuate %s: %d instances cannot move", c.String("node"), len(res.Unmovable))
	}
	return nil
}
