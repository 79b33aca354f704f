package templates

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// NetworkConfig is the guest's first NIC.
type NetworkConfig struct {
	// Disabled leaves the network unconfigured (loopback only).
	Disabled bool `json:"disabled,omitempty"`
	// Interface name in the guest. Default: eth0 for ifupdown; for
	// systemd-networkd, match by MAC if set, else any eth* or en* link.
	Interface string `json:"interface,omitempty"`
	// MAC of the NIC (networkd matches on it when set).
	MAC string `json:"mac,omitempty"`
	// Address in CIDR form ("192.0.2.10/24") for a static address; empty means DHCP.
	Address string `json:"address,omitempty"`
	// Gateway for a static address.
	Gateway string `json:"gateway,omitempty"`
	// DNS servers, written to /etc/resolv.conf for a static address.
	DNS []string `json:"dns,omitempty"`
}

func (n NetworkConfig) validate() error {
	if n.Disabled {
		return nil
	}
	if n.Interface != "" && !ifaceRE.MatchString(n.Interface) {
		return fmt.Errorf("interface %q: %w", n.Interface, ErrInvalid)
	}
	if n.MAC != "" && !macRE.MatchString(n.MAC) {
		return fmt.Errorf("mac %q: %w", n.MAC, ErrInvalid)
	}
	if n.Address != "" {
		if _, err := netip.ParsePrefix(n.Address); err != nil {
			return fmt.Errorf("address %q: %w", n.Address, ErrInvalid)
		}
	}
	for _, a := range append([]string{n.Gateway}, n.DNS...) {
		if a == "" {
			continue
		}
		if _, err := netip.ParseAddr(a); err != nil {
			return fmt.Errorf("address %q: %w", a, ErrInvalid)
		}
	}
	return nil
}

var (
	labelRE  = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
	ifaceRE  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
	macRE    = regexp.MustCompile(`^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`)
	hex32RE  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	sshKeyRE = regexp.MustCompile(`^(ssh-|ecdsa-|sk-)[a-z0-9@.-]+ [A-Za-z0-9+/=]+( .*)?$`)
)

// validHostname: a label; validDomain: dot-separated labels.
func validHostname(h string) bool { return labelRE.MatchString(h) }

func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// guestKind selects what customize writes for a VM disk or a container root.
type guestKind int

const (
	guestVM guestKind = iota
	guestContainer
)

// customize writes the instance's identity into an unpacked root filesystem:
// hostname, /etc/hosts, machine-id, root's SSH keys, fresh SSH host keys,
// network, fstab, serial console (VM) and a cloud-init NoCloud seed when the
// template has cloud-init. It returns whether a seed was written.
func customize(ctx context.Context, t *tree, o *InstallOptions, kind guestKind, log *slog.Logger) (bool, error) {
	fqdn := o.Hostname
	if o.Domain != "" {
		fqdn = o.Hostname + "." + o.Domain
	}
	w := func(rel, data string, mode fs.FileMode) error {
		return t.writeFile(rel, []byte(data), mode)
	}
	if err := w("etc/hostname", o.Hostname+"\n", 0o644); err != nil {
		return false, err
	}
	hostIP := "127.0.1.1"
	if pfx, err := netip.ParsePrefix(o.Network.Address); err == nil && !o.Network.Disabled && pfx.Addr().Is4() {
		hostIP = pfx.Addr().String()
	}
	names := o.Hostname
	if fqdn != o.Hostname {
		names = fqdn + " " + o.Hostname
	}
	hosts := "127.0.0.1\tlocalhost\n" + hostIP + "\t" + names + "\n\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
	if err := w("etc/hosts", hosts, 0o644); err != nil {
		return false, err
	}
	if err := w("etc/machine-id", o.MachineID+"\n", 0o444); err != nil {
		return false, err
	}
	// A regular (not symlinked) D-Bus copy must agree.
	if p, err := resolveIn(t.root, "var/lib/dbus/machine-id"); err == nil && isRegular(p) {
		if err := w("var/lib/dbus/machine-id", o.MachineID+"\n", 0o444); err != nil {
			return false, err
		}
	}
	if len(o.SSHKeys) > 0 {
		if err := t.mkdir("root/.ssh", 0o700); err != nil {
			return false, err
		}
		if err := w("root/.ssh/authorized_keys", strings.Join(o.SSHKeys, "\n")+"\n", 0o600); err != nil {
			return false, err
		}
	}
	if err := sshHostKeys(ctx, t, o.Hostname, log); err != nil {
		return false, err
	}
	if err := writeNetwork(t, o.Network, kind); err != nil {
		return false, err
	}
	switch kind {
	case guestVM:
		if err := w("etc/fstab", "# written by drover\n/dev/vda\t/\text4\terrors=remount-ro\t0\t1\n", 0o644); err != nil {
			return false, err
		}
		if t.exists("lib/systemd/system/serial-getty@.service") {
			if err := t.symlink("etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service",
				"/lib/systemd/system/serial-getty@.service"); err != nil {
				return false, err
			}
		}
	case guestContainer:
		if err := w("etc/fstab", "# written by drover: the container runtime mounts the root filesystem\n", 0o644); err != nil {
			return false, err
		}
	}
	if !t.exists("usr/bin/cloud-init") {
		return false, nil
	}
	return true, writeSeed(t, o, fqdn)
}

// sshHostKeys removes host keys a template may carry and, if the template
// has an SSH server, makes fresh ed25519 and ECDSA keys with the host's
// ssh-keygen. No RSA key: generating one takes seconds, and sshd runs with
// the keys it finds.
func sshHostKeys(ctx context.Context, t *tree, hostname string, log *slog.Logger) error {
	keys, _ := filepath.Glob(filepath.Join(t.root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := t.remove("etc/ssh/" + filepath.Base(k)); err != nil {
			return err
		}
	}
	if !t.exists("etc/ssh/sshd_config") {
		return nil
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		log.Warn("ssh_host_keys_not_made", "reason", "ssh-keygen not installed on this node (openssh-client)")
		return nil
	}
	tmp, err := os.MkdirTemp("", "drover-hostkeys-")
	if err != nil {
		return fmt.Errorf("ssh host keys: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, typ := range []string{"ed25519", "ecdsa"} {
		name := "ssh_host_" + typ + "_key"
		cmd := command(ctx, "ssh-keygen", "-q", "-t", typ, "-N", "", "-C", "root@"+hostname, "-f", filepath.Join(tmp, name))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ssh-keygen -t %s: %w: %s", typ, err, strings.TrimSpace(string(out)))
		}
		for file, mode := range map[string]fs.FileMode{name: 0o600, name + ".pub": 0o644} {
			b, err := os.ReadFile(filepath.Join(tmp, file))
			if err != nil {
				return fmt.Errorf("ssh host keys: %w", err)
			}
			if err := t.writeFile("etc/ssh/"+file, b, mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeNetwork configures the first NIC with systemd-networkd when the
// template has it, else ifupdown, else not at all.
func writeNetwork(t *tree, n NetworkConfig, kind guestKind) error {
	if n.Disabled {
		return nil
	}
	networkd := t.exists("lib/systemd/systemd-networkd")
	ifupdown := t.exists("sbin/ifup")
	static := n.Address != ""
	if static && len(n.DNS) > 0 {
		var b strings.Builder
		b.WriteString("# written by drover\n")
		for _, d := range n.DNS {
			b.WriteString("nameserver " + d + "\n")
		}
		if err := t.writeFile("etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	switch {
	case networkd:
		var b strings.Builder
		b.WriteString("# written by drover\n[Match]\n")
		switch {
		case n.MAC != "":
			b.WriteString("MACAddress=" + strings.ToLower(n.MAC) + "\n")
		case n.Interface != "":
			b.WriteString("Name=" + n.Interface + "\n")
		default:
			b.WriteString("Name=eth* en*\n")
		}
		b.WriteString("\n[Network]\n")
		if static {
			b.WriteString("Address=" + n.Address + "\n")
			if n.Gateway != "" {
				b.WriteString("Gateway=" + n.Gateway + "\n")
			}
			for _, d := range n.DNS {
				b.WriteString("DNS=" + d + "\n")
			}
		} else {
			b.WriteString("DHCP=yes\n")
		}
		if err := t.writeFile("etc/systemd/network/10-drover.network", []byte(b.String()), 0o644); err != nil {
			return err
		}
		// What `systemctl enable systemd-networkd` does, minus wait-online
		// (which would hold the boot for two minutes without a link).
		for rel, target := range map[string]string{
			"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": "/lib/systemd/system/systemd-networkd.service",
			"etc/systemd/system/sockets.target.wants/systemd-networkd.socket":     "/lib/systemd/system/systemd-networkd.socket",
			"etc/systemd/system/dbus-org.freedesktop.network1.service":            "/lib/systemd/system/systemd-networkd.service",
		} {
			if err := t.symlink(rel, target); err != nil {
				return err
			}
		}
		if t.exists("lib/systemd/system/systemd-network-generator.service") {
			if err := t.symlink("etc/systemd/system/sysinit.target.wants/systemd-network-generator.service",
				"/lib/systemd/system/systemd-network-generator.service"); err != nil {
				return err
			}
		}
		return nil
	case ifupdown:
		iface := n.Interface
		if iface == "" {
			iface = "eth0"
		}
		s := "# written by drover\nsource /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nauto " + iface + "\n"
		if static {
			s += "iface " + iface + " inet static\n\taddress " + n.Address + "\n"
			if n.Gateway != "" {
				s += "\tgateway " + n.Gateway + "\n"
			}
		} else {
			s += "iface " + iface + " inet dhcp\n"
		}
		return t.writeFile("etc/network/interfaces", []byte(s), 0o644)
	}
	return nil
}

// writeSeed writes a cloud-init NoCloud seed into the root filesystem
// (/var/lib/cloud/seed/nocloud, which NoCloud reads without a seed disk) and
// tells cloud-init to leave the network to drover's files.
func writeSeed(t *tree, o *InstallOptions, fqdn string) error {
	meta := fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", o.MachineID, o.Hostname)
	var ud strings.Builder
	fmt.Fprintf(&ud, "#cloud-config\nhostname: %s\nfqdn: %s\nmanage_etc_hosts: false\ndisable_root: false\n", o.Hostname, fqdn)
	if len(o.SSHKeys) > 0 {
		ud.WriteString("ssh_authorized_keys:\n")
		for _, k := range o.SSHKeys {
			fmt.Fprintf(&ud, "  - %q\n", k)
		}
	}
	cfg := "# written by drover\ndatasource_list: [ NoCloud, None ]\nnetwork: {config: disabled}\n"
	for rel, data := range map[string]string{
		"var/lib/cloud/seed/nocloud/meta-data": meta,
		"var/lib/cloud/seed/nocloud/user-data": ud.String(),
		"etc/cloud/cloud.cfg.d/90-drover.cfg":  cfg,
	} {
		if err := t.writeFile(rel, []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// newMachineID returns 32 random hex digits (a systemd machine-id).
func newMachineID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("machine-id: %w", err)
	}
	// Mark it as a v4 UUID, as systemd does.
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b), nil
}
