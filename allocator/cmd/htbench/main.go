// Command htbench supports scripts/bench-htools.sh: it generates skewed
// clusters and re-derives free memory and disk so htools can judge a placement.
//
//	htbench gen -nodes N [-per-node K] [-seed S] [-hot-fraction F] [-hot-share F] [-plain-share F] > FILE
//	htbench rederive FILE > FILE2
//	htbench add FILE NAME MEM DISK VCPUS PNODE SNODE > FILE2   (re-derived)
//	htbench time OUT TIMEFILE CAP CMD [ARGS...]   (CPU seconds to microseconds)
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/allocator/htools"
	"github.com/drover-project/drover/allocator/internal/htgen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "htbench:", err)
		os.Exit(1)
	}
}

func load(path string) (*allocator.Cluster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return htools.Parse(f)
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: htbench gen|rederive|add|time ...")
	}
	switch args[0] {
	case "time":
		return timeCmd(args[1:])
	case "gen":
		fs := flag.NewFlagSet("gen", flag.ContinueOnError)
		nodes := fs.Int("nodes", 20, "node count")
		per := fs.Int("per-node", 10, "instances per node on average")
		seed := fs.Uint64("seed", 1, "random seed")
		hotFrac := fs.Float64("hot-fraction", 0, "fraction of hot nodes (0: 0.3)")
		hotShare := fs.Float64("hot-share", 0, "share of primaries on the hot nodes (0: 0.75)")
		plain := fs.Float64("plain-share", 0, "share of plain instances (no secondary)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := htgen.Generate(htgen.Options{Nodes: *nodes, InstPerNode: *per, Seed: *seed,
			HotFraction: *hotFrac, HotShare: *hotShare, PlainShare: *plain})
		if err != nil {
			return err
		}
		return htools.Write(os.Stdout, c)
	case "rederive":
		if len(args) != 2 {
			return fmt.Errorf("usage: htbench rederive FILE")
		}
		c, err := load(args[1])
		if err != nil {
			return err
		}
		if c, err = htgen.Rederive(c); err != nil {
			return err
		}
		return htools.Write(os.Stdout, c)
	case "add":
		if len(args) != 8 {
			return fmt.Errorf("usage: htbench add FILE NAME MEM DISK VCPUS PNODE SNODE")
		}
		c, err := load(args[1])
		if err != nil {
			return err
		}
		var v [3]int64
		for k := range v {
			if v[k], err = strconv.ParseInt(args[3+k], 10, 64); err != nil {
				return err
			}
		}
		in := allocator.Instance{Name: args[2], Mem: v[0], Disk: v[1], VCPUs: int(v[2]), Template: allocator.TemplateDRBD,
			Primary: args[6], Secondary: args[7], RunState: allocator.StateRunning, AutoBalance: true, SpindleUse: 1}
		if c, err = htgen.Add(c, in); err != nil {
			return err
		}
		if c, err = htgen.Rederive(c); err != nil {
			return err
		}
		return htools.Write(os.Stdout, c)
	}
	return fmt.Errorf("unknown subcommand %q", args[0])
}
