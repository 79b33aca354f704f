package floatip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
)

// ErrNoDevice is returned when the device of an address does not exist.
var ErrNoDevice = errors.New("floatip: no such device")

// HasAddr reports whether device dev carries address a.
func HasAddr(dev string, a netip.Addr) (bool, error) {
	_, ok, err := findAddr(dev, a)
	return ok, err
}

// findAddr returns address a as device dev carries it (with its prefix).
func findAddr(dev string, a netip.Addr) (netip.Prefix, bool, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return netip.Prefix{}, false, fmt.Errorf("%w: %s: %w", ErrNoDevice, dev, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Prefix{}, false, fmt.Errorf("floatip: addresses of %s: %w", dev, err)
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
				bits, _ := n.Mask.Size()
				return netip.PrefixFrom(a, bits), true, nil
			}
		}
	}
	return netip.Prefix{}, false, nil
}

// AddAddr puts p (ADDR/PREFIX) on device dev; an address already there is
// fine. It runs iproute2's ip (netlink RTM_NEWADDR).
func AddAddr(ctx context.Context, dev string, p netip.Prefix) error {
	if _, err := net.InterfaceByName(dev); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoDevice, dev, err)
	}
	return ip(ctx, "addr", "replace", p.String(), "dev", dev)
}

// DelAddr removes address a from device dev, whatever its prefix there; an
// address that is not there (or a device that is gone) is fine. It reports
// whether it removed one.
func DelAddr(ctx context.Context, dev string, a netip.Addr) (bool, error) {
	p, has, err := findAddr(dev, a)
	if errors.Is(err, ErrNoDevice) || (err == nil && !has) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, ip(ctx, "addr", "del", p.String(), "dev", dev)
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("floatip: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
