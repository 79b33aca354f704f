package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/realtest"
)

// TestLocalUplinkPingTarget: `cluster modify --ping-target` reaches the
// agent (it reads its group's targets from the cluster record), whose real
// ICMP probes of a loopback address make node list say uplink ok; bad
// targets are refused before anything is sent; "GROUP=" clears them and
// the column goes back to "-". (Lost uplinks: nodeagent's
// TestUplinkPingNetns and master's TestUplinkMigratesAway.)
func TestLocalUplinkPingTarget(t *testing.T) {
	realtest.Short(t, "end-to-end: starts a master and an agent")
	lc := startLocal(t, 1, 1, "127.0.20")
	waitFor(t, 30*time.Second, "node1 online", func() bool { return lc.nodeStatus()["node1"] == "online" })
	uplink := func() string {
		o, _, _ := lc.cli(nil, "node", "list", "--no-headers", "-o", "uplink")
		return strings.TrimSpace(o)
	}
	if u := uplink(); u != "-" {
		t.Fatalf("uplink before any ping target: %q, want -", u)
	}
	for _, bad := range []string{"default=not-an-ip", "=127.0.0.1", "default", "default=224.0.0.1", "Bad_Group=127.0.0.1"} {
		if _, e, code := lc.cli(nil, "cluster", "modify", "--ping-target", bad); code != exitUsage {
			t.Errorf("cluster modify --ping-target %s: exit %d, want %d (%s)", bad, code, exitUsage, e)
		}
	}
	lc.mustCLI("cluster", "modify", "--ping-target", "default=127.0.0.1")
	if o := lc.mustCLI("cluster", "info"); !strings.Contains(o, "Ping targets: default=127.0.0.1") {
		t.Errorf("cluster info without the ping targets:\n%s", o)
	}
	// The agent reads its targets every 30 s.
	waitFor(t, 90*time.Second, "node1's uplink ok", func() bool { return uplink() == "ok" })
	var nodes []api.Node
	if err := json.Unmarshal([]byte(lc.mustCLI("--output", "json", "node", "list")), &nodes); err != nil || len(nodes) != 1 ||
		nodes[0].Uplink == nil || !nodes[0].Uplink.OK || len(nodes[0].Uplink.Reachable) != 1 {
		t.Fatalf("node list json: %+v %v", nodes, err)
	}
	if o := lc.mustCLI("node", "info", "node1"); !strings.Contains(o, "Uplink: ok since") {
		t.Errorf("node info without the uplink:\n%s", o)
	}
	lc.mustCLI("cluster", "modify", "--ping-target", "default=")
	waitFor(t, 90*time.Second, "node1's uplink column back to -", func() bool { return uplink() == "-" })
}
