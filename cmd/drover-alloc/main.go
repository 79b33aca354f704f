// Command drover-alloc is `drover alloc` alone: the allocator on htools text
// files, without the master's, agent's and etcd's packages, so that a whole
// process (hail's job) starts in a few milliseconds (docs/allocator.md).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/allocator/allocli"
)

func main() {
	alloc := allocli.Command()
	app := &cli.App{
		Name:     "drover-alloc",
		Usage:    alloc.Usage,
		Commands: alloc.Subcommands,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "drover-alloc:", err)
		os.Exit(1)
	}
}
