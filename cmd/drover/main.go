// Command drover is the drover cluster manager: the master and agent daemons,
// the local cluster launcher and the gnt-style client nouns.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func newApp() *cli.App {
	return &cli.App{
		Name:                 "drover",
		Usage:                "cluster manager for virtual machines (Ganeti-style)",
		Version:              version,
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "api", Usage: "master URLs, comma-separated (env DROVER_API)", EnvVars: []string{"DROVER_API"}},
			&cli.StringFlag{Name: "token", Usage: "bearer token, or @FILE (env DROVER_TOKEN)", EnvVars: []string{"DROVER_TOKEN"}},
			&cli.StringFlag{Name: "ca", Usage: "cluster CA certificate file (env DROVER_CA)", EnvVars: []string{"DROVER_CA"}},
			&cli.StringFlag{Name: "output", Value: "text", Usage: "text or json"},
		},
		Before: func(c *cli.Context) error {
			if o := c.String("output"); o != "text" && o != "json" {
				return usagef("--output must be text or json, not %q", o)
			}
			return nil
		},
		Commands: []*cli.Command{
			clusterCommand(),
			nodeCommand(),
			instanceCommand(),
			templateCommand(),
			jobCommand(),
			userCommand(),
			debugCommand(),
			masterCommand(),
			agentCommand(),
			localCommand(),
			allocCommand(),
			completionCommand(),
		},
	}
}

// gntNouns maps Ganeti's command names (argv[0]) to drover nouns.
var gntNouns = map[string]string{
	"gnt-cluster": "cluster", "gnt-node": "node", "gnt-job": "job",
	"gnt-instance": "instance", "gnt-debug": "debug",
}

// mapArgv0 turns "gnt-node list" into "drover node list".
func mapArgv0(args []string) []string {
	if len(args) > 0 {
		if noun, ok := gntNouns[filepath.Base(args[0])]; ok {
			return append([]string{args[0], noun}, args[1:]...)
		}
	}
	return args
}

func run(ctx context.Context, args []string) int {
	args = mapArgv0(args)
	app := newApp()
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	code := exitCodeFor(err)
	if msg := strings.TrimSpace(err.Error()); msg != "" {
		fmt.Fprintf(os.Stderr, "drover: %s\n", msg)
	}
	return code
}

func main() {
	os.Exit(run(context.Background(), os.Args))
}
