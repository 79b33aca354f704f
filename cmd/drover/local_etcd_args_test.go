package main

import (
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
)

// local up passes the etcd flags that are set, and only those, to every
// master (the masters' own defaults stay those of production).
func TestLocalUpMasterEtcdArgs(t *testing.T) {
	var up *cli.Command
	for _, sc := range localCommand().Subcommands {
		if sc.Name == "up" {
			up = sc
		}
	}
	if up == nil {
		t.Fatal("no local up")
	}
	for _, tc := range []struct {
		args, want []string
	}{
		{[]string{"--dir", "d"}, nil},
		{[]string{"--dir", "d", "--etcd-tick-ms", "200", "--etcd-election-ms", "2000", "--etcd-compaction-retention", "5m"},
			[]string{"--etcd-tick-ms", "200", "--etcd-election-ms", "2000", "--etcd-compaction-retention", "5m0s"}},
		{[]string{"--dir", "d", "--etcd-election-ms", "1000"}, []string{"--etcd-election-ms", "1000"}},
	} {
		var got []string
		app := &cli.App{Flags: up.Flags, Action: func(c *cli.Context) error { got = masterEtcdArgs(c); return nil }}
		if err := app.Run(append([]string{"up"}, tc.args...)); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: master args %q, want %q", tc.args, got, tc.want)
		}
	}
}
