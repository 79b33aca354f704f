package drbd

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// ErrInvalid: a resource definition that cannot be written.
var ErrInvalid = errors.New("drbd: invalid resource")

// Host is one peer of a resource.
type Host struct {
	// Name is the peer's host name (`uname -n`; drbdadm finds its own
	// section by it).
	Name string
	// IP is the replication address; Port is shared by all peers.
	IP    string
	Minor int
	// Disk is the backing block device on that host.
	Disk string
	// NodeID is DRBD 9's node-id (ignored on 8.4).
	NodeID int
}

// Resource is one DRBD resource with one volume, protocol C, internal
// metadata and HMAC peer authentication.
type Resource struct {
	Name   string
	Port   int
	Secret string
	Hosts  []Host
	// ResyncRate is the fixed resync rate ("100M"); "" keeps DRBD's
	// dynamic controller.
	ResyncRate string
}

var resNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)
var secretRE = regexp.MustCompile(`^[a-zA-Z0-9+/=._-]{8,64}$`)

// Validate checks what the resource file needs.
func (r Resource) Validate(v Version) error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalid, r.Name, fmt.Sprintf(f, a...))
	}
	if !resNameRE.MatchString(r.Name) {
		return bad("name must be 1-63 letters, digits, '.', '_' or '-'")
	}
	if r.Port < 1 || r.Port > 65535 {
		return bad("port %d out of range", r.Port)
	}
	if !secretRE.MatchString(r.Secret) {
		return bad("secret must be 8-64 characters of [a-zA-Z0-9+/=._-]")
	}
	max := 2
	if v.Major >= 9 {
		max = 32
	}
	if len(r.Hosts) < 1 || len(r.Hosts) > max {
		return bad("%d hosts; DRBD %s takes 1 to %d", len(r.Hosts), v, max)
	}
	seen := map[string]bool{}
	ids := map[int]bool{}
	for _, h := range r.Hosts {
		if !resNameRE.MatchString(h.Name) || seen[h.Name] {
			return bad("host name %q invalid or repeated", h.Name)
		}
		seen[h.Name] = true
		if _, err := netip.ParseAddr(h.IP); err != nil {
			return bad("host %s: address %q", h.Name, h.IP)
		}
		if h.Minor < 0 || h.Minor > 1048575 {
			return bad("host %s: minor %d", h.Name, h.Minor)
		}
		if !strings.HasPrefix(h.Disk, "/dev/") || strings.ContainsAny(h.Disk, " ;{}\"\n") {
			return bad("host %s: disk %q must be a /dev path", h.Name, h.Disk)
		}
		if v.Major >= 9 && (ids[h.NodeID] || h.NodeID < 0 || h.NodeID > 31) {
			return bad("host %s: node-id %d invalid or repeated", h.Name, h.NodeID)
		}
		ids[h.NodeID] = true
	}
	if r.ResyncRate != "" && !regexp.MustCompile(`^[0-9]+[kKMG]?$`).MatchString(r.ResyncRate) {
		return bad("resync rate %q", r.ResyncRate)
	}
	return nil
}

// afterSplitBrain are the net options that resolve a split brain.
const afterSplitBrain = "after-sb-0pri discard-zero-changes; after-sb-1pri discard-secondary; after-sb-2pri disconnect;"

// Config renders the resource file in the syntax of DRBD v (8.4 or 9).
func (r Resource) Config(v Version) (string, error) {
	if err := r.Validate(v); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# written by the drover agent; changes are overwritten\nresource %s {\n", r.Name)
	// After a split brain (both sides wrote while cut apart: an isolated
	// primary before its self-fence, its secondary after the failover) the
	// side that is secondary when they meet again discards its changes:
	// drover promotes a secondary only in a failover that fenced the old
	// primary first and made the promoted node the record's primary, and a
	// returning node rejoins as secondary (docs/drbd.md, "Split brain").
	// Both primary: no automatic choice.
	net := fmt.Sprintf("cram-hmac-alg sha256; shared-secret %q; %s", r.Secret, afterSplitBrain)
	if v.Major >= 9 {
		fmt.Fprintf(&b, "  net { protocol C; %s }\n", net)
	} else {
		fmt.Fprintf(&b, "  protocol C;\n  net { %s }\n", net)
	}
	// A lower disk that returns an I/O error is detached: the resource
	// goes on diskless, reading and writing the peer's disk (a primary
	// keeps running), instead of passing the error up to the instance;
	// the agent attaches it again once it reads (Reattach, docs/drbd.md
	// "A failing lower disk").
	disk := "on-io-error detach;"
	if r.ResyncRate != "" {
		disk += fmt.Sprintf(" c-plan-ahead 0; resync-rate %s;", r.ResyncRate)
	}
	fmt.Fprintf(&b, "  disk { %s }\n", disk)
	for _, h := range r.Hosts {
		addr := netip.AddrPortFrom(netip.MustParseAddr(h.IP), uint16(r.Port))
		id := ""
		if v.Major >= 9 {
			id = fmt.Sprintf(" node-id %d;", h.NodeID)
		}
		fmt.Fprintf(&b, "  on %s {%s device minor %d; disk %s; meta-disk internal; address %s; }\n", h.Name, id, h.Minor, h.Disk, addr)
	}
	if v.Major >= 9 && len(r.Hosts) > 1 {
		var names []string
		for _, h := range r.Hosts {
			names = append(names, h.Name)
		}
		fmt.Fprintf(&b, "  connection-mesh { hosts %s; }\n", strings.Join(names, " "))
	}
	b.WriteString("}\n")
	return b.String(), nil
}
