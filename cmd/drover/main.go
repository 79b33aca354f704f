// Command drover is the drover cluster manager: the master and agent daemons,
// the local cluster launcher and the gnt-style client nouns.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/allocator/allocli"
	"github.com/drover-project/drover/api"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func newApp() *cli.App {
	app := &cli.App{
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
			withMoves(clusterCommand(), clusterMoveCommands()),
			withMoves(nodeCommand(), nodeMoveCommands()),
			withMoves(instanceCommand(), instanceMoveCommands()),
			templateCommand(),
			osCommand(),
			jobCommand(),
			userCommand(),
			debugCommand(),
			uiCommand(),
			masterCommand(),
			agentCommand(),
			simNodesCommand(),
			benchListCommand(),
			localCommand(),
			allocli.Command(),
			completionCommand(),
			workloadRunCommand(),
		},
	}
	usageErrors(app.Commands)
	app.OnUsageError = onUsageError
	addNameCompletion(app)
	return app
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
	line := parseCmdLine(app, args)
	if line.complete && completeFields(app, line) {
		return exitOK
	}
	var err error
	if line.unknown != "" && !line.complete {
		err = unknownCommand(app, line)
	} else {
		err = app.RunContext(ctx, line.args())
	}
	if err == nil {
		return exitOK
	}
	code := exitCodeFor(err)
	if line.jsonOutput() {
		printJSONError(os.Stderr, err, code)
		return code
	}
	if msg := strings.TrimSpace(err.Error()); msg != "" {
		fmt.Fprintf(os.Stderr, "drover: %s\n", msg)
	}
	return code
}

// unknownCommand is the usage error for a noun or verb that does not exist.
func unknownCommand(app *cli.App, l *cmdLine) error {
	if l.parent == nil {
		return usagef("unknown command %q (commands: %s)", l.unknown, commandNames(app.Commands))
	}
	return usagef("unknown verb %q for %s (verbs: %s)", l.unknown, strings.Join(l.names, " "), commandNames(l.parent.Subcommands))
}

// jsonError is what a failed command prints on stderr with --output json.
type jsonError struct {
	Error    *api.Error `json:"error"`
	ExitCode int        `json:"exit_code"`
}

func printJSONError(w io.Writer, err error, code int) {
	e := &api.Error{Code: api.CodeOf(err), Message: strings.TrimSpace(err.Error())}
	var ae *api.Error
	if errors.As(err, &ae) {
		e.Message = ae.Message
	}
	if code == exitUsage && e.Code != api.CodeWrongInput {
		e.Code = api.CodeWrongInput
	}
	_ = printJSON(w, jsonError{Error: e, ExitCode: code})
}

func main() {
	os.Exit(run(context.Background(), os.Args))
}
