package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionFlag is the argument urfave/cli's shell completion appends.
const completionFlag = "--generate-bash-completion"

// cmdLine is a command line split the way drover reads it: the global flags,
// the command path (noun, verb), the leaf command's flags and its positional
// arguments. urfave/cli stops reading flags at the first positional
// argument; gnt-* commands do not (`gnt-instance remove web1 -f`), so the
// line is put back together with every flag before the positionals.
type cmdLine struct {
	prog       string
	globals    []string
	path       []*cli.Command
	names      []string // the path as typed (aliases kept)
	flags      []string
	positional []string
	dashdash   bool // "--" was given: positionals may start with "-"
	complete   bool // ended with completionFlag
	// unknown is a word where a verb (or noun) was expected that names no
	// command; parent is the command it was looked up in (nil: the app).
	unknown string
	parent  *cli.Command
	orig    []string
}

// parseCmdLine splits args (args[0] is the program).
func parseCmdLine(app *cli.App, args []string) *cmdLine {
	l := &cmdLine{orig: args}
	if len(args) == 0 {
		return l
	}
	l.prog, args = args[0], args[1:]
	if n := len(args); n > 0 && args[n-1] == completionFlag {
		l.complete, args = true, args[:n-1]
	}
	i := 0
	// Global flags before the noun.
	for i < len(args) && isFlagArg(args[i]) {
		n := flagLen(app.Flags, args, i)
		l.globals = append(l.globals, args[i:i+n]...)
		i += n
	}
	// The command path.
	cmds := app.Commands
	for i < len(args) && len(cmds) > 0 && !isFlagArg(args[i]) {
		c := findCommand(cmds, args[i])
		if c == nil {
			if args[i] != "help" && args[i] != "h" {
				l.unknown = args[i]
				if len(l.path) > 0 {
					l.parent = l.path[len(l.path)-1]
				}
			}
			break
		}
		l.path, l.names = append(l.path, c), append(l.names, args[i])
		cmds = c.Subcommands
		i++
	}
	leaf := l.leaf()
	var leafFlags []cli.Flag
	if leaf != nil {
		leafFlags = leaf.Flags
	}
	for i < len(args) {
		a := args[i]
		switch {
		case l.dashdash || !isFlagArg(a):
			l.positional = append(l.positional, a)
			i++
		case a == "--":
			l.dashdash = true
			i++
		case lookupFlag(leafFlags, a) != nil:
			n := flagLen(leafFlags, args, i)
			l.flags = append(l.flags, args[i:i+n]...)
			i += n
		case lookupFlag(app.Flags, a) != nil:
			n := flagLen(app.Flags, args, i)
			l.globals = append(l.globals, args[i:i+n]...)
			i += n
		default: // unknown: left to urfave/cli to report
			l.flags = append(l.flags, a)
			i++
		}
	}
	return l
}

// leaf is the last command of the path (nil for none).
func (l *cmdLine) leaf() *cli.Command {
	if len(l.path) == 0 {
		return nil
	}
	return l.path[len(l.path)-1]
}

// args puts the line back together for urfave/cli (as given when it names
// an unknown command).
func (l *cmdLine) args() []string {
	if l.unknown != "" {
		return l.orig
	}
	out := append([]string{l.prog}, l.globals...)
	out = append(out, l.names...)
	out = append(out, l.flags...)
	if l.dashdash || slices.ContainsFunc(l.positional, isFlagArg) {
		out = append(out, "--")
	}
	out = append(out, l.positional...)
	if l.complete {
		out = append(out, completionFlag)
	}
	return out
}

// jsonOutput reports whether the line asks for --output json.
func (l *cmdLine) jsonOutput() bool {
	for i, a := range l.globals {
		if a == "--output=json" || a == "-output=json" || (a == "--output" || a == "-output") && i+1 < len(l.globals) && l.globals[i+1] == "json" {
			return true
		}
	}
	return false
}

func isFlagArg(a string) bool { return len(a) > 1 && a[0] == '-' }

// lookupFlag finds the flag an argument such as "-f", "--fields=a,b" names.
func lookupFlag(flags []cli.Flag, a string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// flagLen is how many arguments the flag at args[i] takes: 1, or 2 when its
// value is the next argument.
func flagLen(flags []cli.Flag, args []string, i int) int {
	f := lookupFlag(flags, args[i])
	if f == nil || strings.Contains(args[i], "=") || i+1 >= len(args) {
		return 1
	}
	if _, ok := f.(*cli.BoolFlag); ok {
		return 1
	}
	if strings.HasPrefix(args[i], "--help") || args[i] == "-h" {
		return 1
	}
	return 2
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// commandNames lists the names of cmds, for "unknown verb" messages.
func commandNames(cmds []*cli.Command) string {
	var n []string
	for _, c := range cmds {
		if !c.Hidden {
			n = append(n, c.Name)
		}
	}
	return strings.Join(n, ", ")
}

// onUsageError makes urfave/cli's flag errors usage errors (exit 2).
func onUsageError(_ *cli.Context, err error, _ bool) error { return usagef("%v", err) }

// usageErrors sets onUsageError on cmds and their subcommands.
func usageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = onUsageError
		}
		usageErrors(c.Subcommands)
	}
}
