package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// Shell completion of the names a verb takes (nodes, instances, jobs,
// templates, users), asked from the cluster, and of list field names (after
// -o). Errors print nothing: completion must never get in the way.

// nameLister lists the names of one noun's objects.
type nameLister func(ctx context.Context, cl *api.Client) ([]string, error)

var nounNames = map[string]nameLister{
	"node": func(ctx context.Context, cl *api.Client) ([]string, error) {
		ns, err := cl.ListNodes(ctx, api.NodeQuery{})
		return names(ns, err, func(n api.Node) string { return n.Name })
	},
	"instance": func(ctx context.Context, cl *api.Client) ([]string, error) {
		is, err := cl.ListInstances(ctx, api.InstanceQuery{})
		return names(is, err, func(i api.Instance) string { return i.Name })
	},
	"job": func(ctx context.Context, cl *api.Client) ([]string, error) {
		js, err := cl.ListJobs(ctx, api.JobFilter{Limit: 50})
		return names(js, err, func(j api.Job) string { return strconv.FormatUint(j.ID, 10) })
	},
	"template": func(ctx context.Context, cl *api.Client) ([]string, error) {
		ts, err := cl.ListTemplates(ctx)
		return names(ts, err, func(t api.Template) string { return t.Name })
	},
	"user": func(ctx context.Context, cl *api.Client) ([]string, error) {
		us, err := cl.ListUsers(ctx)
		return names(us, err, func(u api.User) string { return u.Name })
	},
}

func names[T any](items []T, err error, name func(T) string) ([]string, error) {
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, name(it))
	}
	return out, nil
}

// nounFields are the field names each noun's list offers.
func nounFields(noun string) []string {
	switch noun {
	case "node":
		return nodeFields.names()
	case "instance":
		return instanceFields.names()
	case "job":
		return jobFields.names()
	case "template":
		return templateFields.names()
	case "user":
		return userFields.names()
	}
	return nil
}

// noNameVerbs take no existing object's name.
var noNameVerbs = map[string]bool{"add": true, "import": true, "build": true, "init": true}

// addNameCompletion makes the verbs of the nouns in nounNames complete the
// names of the noun's objects.
func addNameCompletion(app *cli.App) {
	for _, noun := range app.Commands {
		list, ok := nounNames[noun.Name]
		if !ok {
			continue
		}
		for _, verb := range noun.Subcommands {
			if len(verb.Subcommands) > 0 || noNameVerbs[verb.Name] {
				continue
			}
			verb.BashComplete = func(c *cli.Context) {
				cl, err := newClient(c)
				if err != nil {
					return
				}
				ctx, cancel := context.WithTimeout(c.Context, 3*time.Second)
				defer cancel()
				ns, err := list(ctx, cl)
				if err != nil {
					return
				}
				for _, n := range ns {
					fmt.Fprintln(c.App.Writer, n)
				}
			}
		}
	}
}

// completeFields prints the field names when the word being completed is
// the value of -o/--fields; it reports whether it did.
func completeFields(app *cli.App, l *cmdLine) bool {
	if len(l.flags) == 0 || len(l.path) == 0 {
		return false
	}
	f := lookupFlag(l.leaf().Flags, l.flags[len(l.flags)-1])
	if f == nil || f.Names()[0] != "fields" || strings.Contains(l.flags[len(l.flags)-1], "=") {
		return false
	}
	fs := nounFields(l.path[0].Name)
	if fs == nil {
		return false
	}
	w := app.Writer
	if w == nil { // set by app.Run, which does not run here
		w = os.Stdout
	}
	for _, f := range fs {
		fmt.Fprintln(w, f)
	}
	return true
}
