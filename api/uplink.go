package api

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// MaxPingTargets bounds the ping targets of one node group.
const MaxPingTargets = 8

// UplinkStatus is what a node's agent found pinging its group's ping
// targets (docs/ha.md, "Connectivity"): the uplink is up while at least one
// target answered one of the last UplinkLostAfter probes.
type UplinkStatus struct {
	// Targets are the addresses pinged.
	Targets []string `json:"targets"`
	// Reachable are the targets that answered one of the last probes.
	Reachable []string `json:"reachable,omitempty"`
	// OK is false when no target answered the last UplinkLostAfter probes.
	OK bool `json:"ok"`
	// Since is when OK took its value (the agent's clock).
	Since time.Time `json:"since"`
	// CheckedAt is when the last probe round ended.
	CheckedAt time.Time `json:"checked_at"`
}

// UplinkLostAfter is how many probe rounds in a row (one every
// UplinkProbeInterval) without an answer from any target make an uplink
// lost; one answer makes it up again.
const UplinkLostAfter = 3

// UplinkProbeInterval is the time between two probe rounds of an agent.
const UplinkProbeInterval = 2 * time.Second

// UplinkWord is "ok", "lost" or "-" (no ping target) for lists.
func UplinkWord(u *UplinkStatus) string {
	switch {
	case u == nil || len(u.Targets) == 0:
		return "-"
	case u.OK:
		return "ok"
	}
	return "lost"
}

// ValidPingTargets checks the ping targets of a cluster modify: group names
// as node groups are named, each group's addresses IP literals (IPv4 or
// IPv6), at most MaxPingTargets and none twice. An empty list clears the
// group's targets.
func ValidPingTargets(t map[string][]string) error {
	groups := make([]string, 0, len(t))
	for g := range t {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		if err := ValidHostname(g); err != nil {
			return Errorf(CodeWrongInput, "ping target group %s: %s", quoteShort(g), AsError(err).Message)
		}
		addrs := t[g]
		if len(addrs) > MaxPingTargets {
			return Errorf(CodeWrongInput, "group %s: %d ping targets, at most %d", g, len(addrs), MaxPingTargets)
		}
		seen := map[netip.Addr]bool{}
		for _, a := range addrs {
			ip, err := netip.ParseAddr(a)
			if err != nil || ip.Zone() != "" {
				return Errorf(CodeWrongInput, "group %s: ping target %s is not an IP address", g, quoteShort(a))
			}
			if ip.IsUnspecified() || ip.IsMulticast() {
				return Errorf(CodeWrongInput, "group %s: ping target %s is not a unicast address", g, a)
			}
			if seen[ip] {
				return Errorf(CodeWrongInput, "group %s: ping target %s twice", g, a)
			}
			seen[ip] = true
		}
	}
	return nil
}

// PingTargetsString is a cluster's ping targets for people:
// "default=10.0.0.1,10.0.0.2 rack2=10.1.0.1" (groups sorted).
func PingTargetsString(t map[string][]string) string {
	groups := make([]string, 0, len(t))
	for g := range t {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	out := ""
	for i, g := range groups {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%s=%s", g, strings.Join(t[g], ","))
	}
	return out
}
