package libvirt

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/drover-project/drover/nodeagent/hv"
)

// DefaultURI is the libvirt URI of each hypervisor kind on the local host.
func DefaultURI(kind hv.Kind) string {
	switch kind {
	case hv.KindKVM:
		return "qemu:///system"
	case hv.KindLXC:
		return "lxc:///system"
	case hv.KindXen:
		return "xen:///system"
	case hv.KindOpenVZ:
		return "openvz:///system"
	case hv.KindTest:
		return "test:///default"
	}
	return ""
}

// endpoint is where to dial and what to ask libvirtd for once connected.
type endpoint struct {
	network, address string
	remote           golibvirt.ConnectURI // the URI sent to libvirtd
	local            bool                 // the daemon runs on this host
}

const defaultSocket = "/var/run/libvirt/libvirt-sock"

// parseURI understands driver[+unix|+tcp]://[host[:port]]/path[?socket=...].
// TLS and SSH transports are not supported: drover reaches remote daemons
// through their own agent.
func parseURI(s string) (endpoint, error) {
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, fmt.Errorf("libvirt: bad URI %q: %w", s, err)
	}
	scheme := strings.SplitN(u.Scheme, "+", 2)
	transport := "unix"
	if len(scheme) == 2 {
		transport = scheme[1]
	} else if u.Host != "" {
		transport = "tls"
	}
	ep := endpoint{remote: golibvirt.RemoteURI(u)}
	switch transport {
	case "unix":
		ep.network, ep.address, ep.local = "unix", defaultSocket, true
		if sock := u.Query().Get("socket"); sock != "" {
			ep.address = sock
		}
	case "tcp":
		port := u.Port()
		if port == "" {
			port = "16509"
		}
		ep.network, ep.address = "tcp", net.JoinHostPort(u.Hostname(), port)
		ep.local = u.Hostname() == "" || net.ParseIP(u.Hostname()).IsLoopback() || u.Hostname() == "localhost"
	default:
		return endpoint{}, fmt.Errorf("libvirt: URI %q: transport %q not supported (use unix or tcp): %w", s, transport, hv.ErrUnsupported)
	}
	return ep, nil
}

// preflight explains, before dialling, why a hypervisor cannot run on this
// host, in words an operator can act on.
func preflight(kind hv.Kind, ep endpoint) error {
	if !ep.local {
		return nil
	}
	switch kind {
	case hv.KindXen:
		if _, err := os.Stat("/proc/xen"); err != nil {
			return fmt.Errorf("libvirt: hypervisor xen: this host is not running under the Xen hypervisor (no /proc/xen); boot it with Xen (Debian: xen-system-amd64) or choose another hypervisor for this node: %w", hv.ErrUnsupported)
		}
	case hv.KindOpenVZ:
		if _, err := os.Stat("/proc/vz"); err != nil {
			return fmt.Errorf("libvirt: hypervisor openvz: this host's kernel has no OpenVZ support (no /proc/vz); use an OpenVZ kernel or choose lxc for containers: %w", hv.ErrUnsupported)
		}
	}
	return nil
}
