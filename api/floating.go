package api

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// OpClusterModify changes cluster settings; params ClusterModify. It takes
// the cluster lock.
const OpClusterModify = "cluster.modify"

// ClusterModify is the body of PATCH /cluster and the params of
// OpClusterModify: the cluster's floating address (docs/ha.md, "Floating
// addresses"). A field left out is not changed.
type ClusterModify struct {
	// ClusterIP is the address that moves with the leader, "ADDR/PREFIX"
	// (IPv4); "" removes it (with ClusterIPDev).
	ClusterIP *string `json:"cluster_ip,omitempty"`
	// ClusterIPDev is the network device on which the leader announces the
	// cluster IP (gratuitous ARP) and is reached.
	ClusterIPDev *string `json:"cluster_ip_dev,omitempty"`
	// PingTargets sets the ping targets of the named node groups (an empty
	// list clears a group's); groups left out keep theirs (docs/ha.md,
	// "Connectivity").
	PingTargets map[string][]string `json:"ping_targets,omitempty"`
	// UplinkMigrate turns on or off the leader's migration of instances away
	// from a node that lost its uplink.
	UplinkMigrate *bool `json:"uplink_migrate,omitempty"`
}

// Validate checks a ClusterModify: something to change, an IPv4
// ADDR/PREFIX, a device name, and both set or both cleared.
func (m ClusterModify) Validate() error {
	if m.ClusterIP == nil && m.ClusterIPDev == nil && m.PingTargets == nil && m.UplinkMigrate == nil {
		return Errorf(CodeWrongInput, "nothing to change")
	}
	if err := ValidPingTargets(m.PingTargets); err != nil {
		return err
	}
	if m.ClusterIP == nil && m.ClusterIPDev == nil {
		return nil
	}
	ip, dev := deref(m.ClusterIP), deref(m.ClusterIPDev)
	return ValidClusterIP(ip, dev, m.ClusterIP != nil, m.ClusterIPDev != nil)
}

// ValidClusterIP checks a cluster IP and its device as a cluster record
// holds them. ipSet and devSet tell which of the two a change sets: one may
// change alone, but a new address needs a device and "" clears both.
func ValidClusterIP(ip, dev string, ipSet, devSet bool) error {
	if ipSet && ip == "" {
		if devSet && dev != "" {
			return Errorf(CodeWrongInput, "cluster_ip_dev %s without a cluster_ip", quoteShort(dev))
		}
		return nil
	}
	if ipSet {
		if _, err := ParseFloatingIP(ip); err != nil {
			return err
		}
	}
	if devSet {
		if err := ValidLinkName(dev); err != nil {
			return Errorf(CodeWrongInput, "cluster_ip_dev: %s", AsError(err).Message)
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ParseFloatingIP reads a floating address "ADDR/PREFIX": an IPv4 unicast
// address (gratuitous ARP is IPv4's) with the prefix length of its subnet.
func ParseFloatingIP(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, Errorf(CodeWrongInput, "address %s: want ADDR/PREFIX, e.g. 192.0.2.10/24", quoteShort(s))
	}
	a := p.Addr()
	switch {
	case !a.Is4():
		return netip.Prefix{}, Errorf(CodeWrongInput, "address %s: only IPv4 floating addresses are supported", quoteShort(s))
	case !a.IsGlobalUnicast() && !a.IsPrivate():
		return netip.Prefix{}, Errorf(CodeWrongInput, "address %s: not a unicast host address", quoteShort(s))
	case p.Bits() < 8:
		return netip.Prefix{}, Errorf(CodeWrongInput, "address %s: prefix /%d is too short", quoteShort(s), p.Bits())
	case p.Bits() < 31 && (a == p.Masked().Addr() || a == lastAddr(p)):
		return netip.Prefix{}, Errorf(CodeWrongInput, "address %s: the network or broadcast address of its subnet", quoteShort(s))
	}
	return p, nil
}

// lastAddr is the broadcast address of p's subnet.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// ValidLinkName checks a Linux network device name: 1 to 15 bytes, no "/",
// no white space, not "." or "..".
func ValidLinkName(s string) error {
	if s == "" || len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/:@ \t\n") {
		return Errorf(CodeWrongInput, "device %s: want a network device name (1-15 characters, no '/', ':', '@' or spaces)", quoteShort(s))
	}
	return nil
}

// ServiceIP is an instance's floating service address: ADDR/PREFIX on host
// device Dev of the node that runs the instance.
type ServiceIP struct {
	Prefix netip.Prefix
	Dev    string
}

// String is the "ADDR/PREFIX@DEV" form.
func (s ServiceIP) String() string { return s.Prefix.String() + "@" + s.Dev }

// ParseServiceIP reads an instance service address "ADDR/PREFIX@DEV"
// (-B service_ip=...).
func ParseServiceIP(s string) (ServiceIP, error) {
	addr, dev, ok := strings.Cut(s, "@")
	if !ok {
		return ServiceIP{}, Errorf(CodeWrongInput, "service_ip %s: want ADDR/PREFIX@DEV, e.g. 192.0.2.20/24@br0", quoteShort(s))
	}
	p, err := ParseFloatingIP(addr)
	if err != nil {
		return ServiceIP{}, Errorf(CodeWrongInput, "service_ip: %s", AsError(err).Message)
	}
	if err := ValidLinkName(dev); err != nil {
		return ServiceIP{}, Errorf(CodeWrongInput, "service_ip: %s", AsError(err).Message)
	}
	return ServiceIP{Prefix: p, Dev: dev}, nil
}

// clusterModify answers PATCH /cluster with 202 and the job.
func (s *server) clusterModify(c *gin.Context) {
	var req ClusterModify
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	if err := req.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	s.submit(c, JobSubmit{Ops: []OpCode{MustOp(OpClusterModify, req)}})
}

// ModifyCluster calls PATCH /cluster and returns the job's id.
func (c *Client) ModifyCluster(ctx context.Context, req ClusterModify) (uint64, error) {
	return c.submit(ctx, http.MethodPatch, "/cluster", req)
}
