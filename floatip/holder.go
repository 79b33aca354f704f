package floatip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// HolderDevice is the name of the device a Holder creates.
const HolderDevice = "drover-vip"

// Holder holds a floating address for as long as this process lives: the
// address sits, as ADDR/32, on a TAP device that is not persistent and
// that only this process has open, so the kernel removes device and
// address when the process closes it or dies in any way (kill -9
// included). Linux answers ARP on any device for any local address
// (arp_ignore 0, the default), so the host is reached on dev, where the
// address is announced with gratuitous ARP.
type Holder struct {
	Addr netip.Prefix
	Dev  string

	mu     sync.Mutex
	fd     int
	cancel context.CancelFunc
	done   <-chan struct{}
}

// Hold takes addr: it creates the holder device (failing with EBUSY when
// another process of this host holds it), puts the address on it and
// starts announcing it on dev (Announcements rounds, in the background).
func Hold(ctx context.Context, addr netip.Prefix, dev string, log *slog.Logger) (*Holder, error) {
	if _, err := net.InterfaceByName(dev); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoDevice, dev, err)
	}
	if n := arpIgnore(dev); n > 0 {
		return nil, fmt.Errorf("floatip: arp_ignore is %d on %s: the host would not answer ARP for %s (set net.ipv4.conf.%s.arp_ignore=0)", n, dev, addr.Addr(), dev)
	}
	fd, err := openTap(HolderDevice)
	if err != nil {
		return nil, err
	}
	h := &Holder{Addr: addr, Dev: dev, fd: fd}
	// No IPv6 on it: nothing would answer its solicitations.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+HolderDevice+"/disable_ipv6", []byte("1"), 0o644)
	host := netip.PrefixFrom(addr.Addr(), 32)
	for _, args := range [][]string{{"link", "set", "dev", HolderDevice, "up"}, {"addr", "add", host.String(), "dev", HolderDevice}} {
		if err := ip(ctx, args...); err != nil {
			h.Release()
			return nil, err
		}
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done, err := Announce(actx, dev, addr.Addr(), Announcements, AnnounceInterval)
	if err != nil {
		// Held all the same: neighbours that ask find it.
		if log != nil {
			log.Warn("gratuitous_arp_failed", "address", addr.String(), "dev", dev, "error", err)
		}
		c := make(chan struct{})
		close(c)
		done = c
	}
	h.cancel, h.done = cancel, done
	return h, nil
}

// Release gives the address up: closing the device's only descriptor
// removes the device, and the address with it, before Release returns.
// Releasing twice is fine.
func (h *Holder) Release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fd < 0 {
		return
	}
	_ = unix.Close(h.fd)
	h.fd = -1
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
}

// openTap creates TAP device name (not persistent) and returns its
// descriptor (close-on-exec: no child process keeps the device alive).
func openTap(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("floatip: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("floatip: device %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		_ = unix.Close(fd)
		if errors.Is(err, unix.EBUSY) {
			return -1, fmt.Errorf("floatip: device %s is held by another process of this host: %w", name, err)
		}
		return -1, fmt.Errorf("floatip: create %s: %w", name, err)
	}
	return fd, nil
}

// arpIgnore is the effective arp_ignore of dev (the larger of "all" and
// the device's own); 0 when unreadable.
func arpIgnore(dev string) int {
	n := 0
	for _, d := range []string{"all", dev} {
		b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + d + "/arp_ignore")
		if err != nil {
			continue
		}
		var v int
		if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &v); err == nil {
			n = max(n, v)
		}
	}
	return n
}
