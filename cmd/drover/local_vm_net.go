package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// vmNet is the link of a local cluster's node guests: a bridge br0 inside a
// network namespace of its own, one tap device per guest on it, and a veth
// pair whose host end carries the masters' addresses (NET.1, NET.2, ...), so
// masters on the host and agents in the guests reach each other and nothing
// else: no route leads from the namespace anywhere but to that veth.
type vmNet struct {
	NS     string `json:"ns"`
	Net    string `json:"net"` // first three octets, "198.18.42"
	HostIf string `json:"host_if"`
	NSIf   string `json:"ns_if"`
}

func newVMNet(dir, net string) (vmNet, error) {
	if _, err := netip.ParseAddr(net + ".1"); err != nil || strings.Count(net, ".") != 2 {
		return vmNet{}, usagef("--vm-net %q: want three octets of an IPv4 /24, e.g. 198.18.7", net)
	}
	h := sha256.Sum256([]byte(dir))
	id := hex.EncodeToString(h[:4])
	return vmNet{NS: "drover-" + id, Net: net, HostIf: "dv" + id + "h", NSIf: "dv" + id + "n"}, nil
}

// defaultVMNet picks 198.18.X (RFC 2544's benchmarking range, unused on
// real networks) with X from the cluster directory, so two local clusters
// get different links.
func defaultVMNet(dir string) string {
	h := sha256.Sum256([]byte(dir))
	return fmt.Sprintf("198.18.%d", 1+int(h[0])%250)
}

func (n vmNet) masterIP(i int) string { return fmt.Sprintf("%s.%d", n.Net, i) }
func (n vmNet) nodeIP(i int) string   { return fmt.Sprintf("%s.%d", n.Net, 100+i) }
func (n vmNet) tap(i int) string      { return fmt.Sprintf("tap%d", i) }

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// up creates the namespace, bridge, veth (host end with masters
// addresses) and taps. Leftovers of an earlier run are removed first.
func (n vmNet) up(masters, nodes int) error {
	n.down()
	if out, err := exec.Command("ip", "-o", "addr").Output(); err == nil && strings.Contains(string(out), " "+n.Net+".") {
		return fmt.Errorf("local vm network %s.0/24 is already in use on this host; choose another with --vm-net", n.Net)
	}
	steps := [][]string{
		{"netns", "add", n.NS},
		{"-n", n.NS, "link", "set", "lo", "up"},
		{"-n", n.NS, "link", "add", "br0", "type", "bridge"},
		{"-n", n.NS, "link", "set", "br0", "up"},
		{"link", "add", n.HostIf, "type", "veth", "peer", "name", n.NSIf},
		{"link", "set", n.NSIf, "netns", n.NS},
		{"-n", n.NS, "link", "set", n.NSIf, "master", "br0"},
		{"-n", n.NS, "link", "set", n.NSIf, "up"},
		{"addr", "add", n.masterIP(1) + "/24", "dev", n.HostIf},
	}
	for i := 2; i <= masters; i++ {
		steps = append(steps, []string{"addr", "add", n.masterIP(i) + "/32", "dev", n.HostIf})
	}
	steps = append(steps, []string{"link", "set", n.HostIf, "up"})
	for i := 1; i <= masters; i++ {
		steps = append(steps, n.masterLocalRoute(i))
	}
	for i := 1; i <= nodes; i++ {
		steps = append(steps,
			[]string{"-n", n.NS, "tuntap", "add", n.tap(i), "mode", "tap"},
			[]string{"-n", n.NS, "link", "set", n.tap(i), "master", "br0"},
			[]string{"-n", n.NS, "link", "set", n.tap(i), "up"})
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			n.down()
			return err
		}
	}
	return nil
}

// masterLocalRoute makes the host's own connections to master i's address
// leave from 127.0.0.1, as they do on loopback. The kernel's local route
// for an address has that address as its source, so without this a master
// dialing another's etcd peer port would arrive from the other's own
// address (m1 -> m2 from NET.2), which the dialer's certificate does not
// name: etcd refuses every such peer connection ("rejected connection on
// peer endpoint ... does not match any of DNSNames", in the members' logs
// with drover master --etcd-log-level warn) and three members never form a
// cluster. Every master certificate names 127.0.0.1. Connections from the
// guests keep their own addresses.
func (n vmNet) masterLocalRoute(i int) []string {
	return []string{"route", "replace", "table", "local", "local", n.masterIP(i), "dev", n.HostIf,
		"proto", "kernel", "scope", "host", "src", "127.0.0.1"}
}

// down removes the namespace (with the bridge, taps and the veth's inner
// end, which takes the host end with it). Missing parts are fine.
func (n vmNet) down() {
	_ = ipCmd("netns", "del", n.NS)
	_ = ipCmd("link", "del", n.HostIf)
}
