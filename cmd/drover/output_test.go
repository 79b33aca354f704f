package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/drover-project/drover/api"
)

// runList runs printList through a real urfave/cli app with the given args.
func runList(t *testing.T, args ...string) (string, error) {
	t.Helper()
	nodes := []api.Node{
		{Name: "node1", Status: api.NodeOnline, Drained: true, Resources: &api.NodeResources{MemoryTotalMiB: 1024, CPUs: 4}},
		{Name: "node2", Status: api.NodeUnreachable},
	}
	var out bytes.Buffer
	app := &cli.App{
		Writer: &out, ErrWriter: &out,
		Flags: []cli.Flag{&cli.StringFlag{Name: "output", Value: "text"}},
		Commands: []*cli.Command{{
			Name: "list", Flags: listFlags(),
			Action: func(c *cli.Context) error { return printList(c, nodeFields, nodes) },
		}},
	}
	err := app.Run(append([]string{"drover"}, args...))
	return out.String(), err
}

func TestPrintList(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"fields and separator", []string{"list", "--no-headers", "-o", "name,status", "--separator", "|"}, "node1|online\nnode2|unreachable\n"},
		{"headers", []string{"list", "-o", "name,drained", "--separator", ","}, "Node,Drained\nnode1,Y\nnode2,N\n"},
		{"unknown resources", []string{"list", "--no-headers", "-o", "name,mtotal,ctotal", "--separator", " "}, "node1 1024 4\nnode2 ? ?\n"},
		{"aligned", []string{"list", "-o", "name,status"}, "Node  Status\nnode1 online\nnode2 unreachable\n"},
		{"json selected", []string{"--output", "json", "list", "-o", "name"}, "[\n  {\n    \"name\": \"node1\"\n  },\n  {\n    \"name\": \"node2\"\n  }\n]\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runList(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPrintListJSONFull(t *testing.T) {
	got, err := runList(t, "--output", "json", "list")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []api.Node
	if err := json.Unmarshal([]byte(got), &nodes); err != nil || len(nodes) != 2 || nodes[0].Resources.CPUs != 4 {
		t.Fatalf("json: %v %+v", err, nodes)
	}
}

func TestSelectFields(t *testing.T) {
	if _, err := runList(t, "list", "-o", "name,bogus"); exitCodeFor(err) != exitUsage {
		t.Errorf("unknown field: %v (exit %d)", err, exitCodeFor(err))
	}
	got, err := runList(t, "list", "--no-headers", "-o", "+sip", "--separator", ";")
	if err != nil {
		t.Fatal(err)
	}
	// defaults (7 fields) plus sip
	if want := "node1;online;1024;0;0;0;-;-\nnode2;unreachable;?;?;?;?;-;-\n"; got != want {
		t.Errorf("+field: got %q want %q", got, want)
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("boom"), exitFailure},
		{usagef("bad"), exitUsage},
		{api.Errorf(api.CodeWrongInput, "x"), exitUsage},
		{fmt.Errorf("wrapped: %w", api.Errorf(api.CodeUnauthorized, "x")), exitAuth},
		{api.Errorf(api.CodeForbidden, "x"), exitAuth},
		{api.Errorf(api.CodeUnknownEntity, "x"), exitNotFound},
		{api.Errorf(api.CodeUnavailable, "x"), exitUnavailable},
		{api.Errorf(api.CodeAlreadyExists, "x"), exitAlreadyExists},
		{api.Errorf(api.CodeWrongState, "x"), exitWrongState},
		{api.Errorf(api.CodeInsufficientResources, "x"), exitNoResources},
		{api.Errorf(api.CodeInternal, "x"), exitFailure},
		{cli.Exit("x", 9), 9},
	}
	for _, tc := range cases {
		if got := exitCodeFor(tc.err); got != tc.want {
			t.Errorf("exitCodeFor(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestBoolArg(t *testing.T) {
	for _, v := range []string{"yes", "Y", "true", "on"} {
		if b, err := boolArg("x", v); err != nil || !*b {
			t.Errorf("%q: %v %v", v, b, err)
		}
	}
	for _, v := range []string{"no", "off", "0"} {
		if b, err := boolArg("x", v); err != nil || *b {
			t.Errorf("%q: %v %v", v, b, err)
		}
	}
	if _, err := boolArg("drained", "maybe"); exitCodeFor(err) != exitUsage {
		t.Errorf("maybe: %v", err)
	}
}

func TestGntArgv0(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"/usr/sbin/gnt-node", "list", "-o", "name"}, []string{"/usr/sbin/gnt-node", "node", "list", "-o", "name"}},
		{[]string{"gnt-job", "watch", "7"}, []string{"gnt-job", "job", "watch", "7"}},
		{[]string{"drover", "node", "list"}, []string{"drover", "node", "list"}},
		{[]string{"gnt-unknown", "x"}, []string{"gnt-unknown", "x"}},
	}
	for _, tc := range cases {
		if got := mapArgv0(tc.in); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("mapArgv0(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
