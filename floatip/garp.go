package floatip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Announcements are how often Announce sends, AnnounceInterval apart: 3
// over 1 s, as arping -U -c 3 and Pacemaker's IPaddr2 do by default.
const (
	Announcements    = 3
	AnnounceInterval = 500 * time.Millisecond
)

// Announce sends gratuitous ARP for addr from device dev: each round one
// request and one reply, both with sender and target address addr and the
// device's MAC, to the broadcast address, so that every neighbour that has
// an entry for addr points it at this host (Linux takes either form as
// gratuitous: sender IP = target IP; for a reply target MAC = sender MAC).
// It sends the first round before it returns, from a socket of the
// caller's network namespace, and the other count-1 rounds interval apart
// in the background, stopping early when ctx ends; done is closed after the
// last.
func Announce(ctx context.Context, dev string, addr netip.Addr, count int, interval time.Duration) (done <-chan struct{}, err error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, fmt.Errorf("floatip: announce %s: %w", addr, err)
	}
	if len(ifi.HardwareAddr) != 6 || !addr.Is4() {
		return nil, fmt.Errorf("floatip: announce %s on %s: want an Ethernet device and an IPv4 address", addr, dev)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return nil, fmt.Errorf("floatip: packet socket: %w", err)
	}
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index, Halen: 6}
	copy(to.Addr[:], broadcast)
	frames := [][]byte{arpFrame(ifi.HardwareAddr, addr, arpRequest), arpFrame(ifi.HardwareAddr, addr, arpReply)}
	send := func() error {
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, to); err != nil {
				return fmt.Errorf("floatip: send gratuitous arp for %s on %s: %w", addr, dev, err)
			}
		}
		return nil
	}
	if err := send(); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer unix.Close(fd)
		for range count - 1 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
			if send() != nil {
				return
			}
		}
	}()
	return ch, nil
}

const (
	arpRequest = 1
	arpReply   = 2
)

var broadcast = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// arpFrame is an Ethernet frame with a gratuitous ARP of op for addr from
// mac (RFC 826 layout; RFC 5227's announcement for the request).
func arpFrame(mac net.HardwareAddr, addr netip.Addr, op byte) []byte {
	f := make([]byte, 42)
	copy(f[0:6], broadcast)
	copy(f[6:12], mac)
	f[12], f[13] = 0x08, 0x06 // EtherType ARP
	a := f[14:]
	a[1] = 1             // hardware type Ethernet
	a[2], a[3] = 0x08, 0 // protocol IPv4
	a[4], a[5] = 6, 4    // address lengths
	a[7] = op
	ip := addr.As4()
	copy(a[8:14], mac) // sender MAC
	copy(a[14:18], ip[:])
	if op == arpReply {
		copy(a[18:24], mac) // target MAC = sender MAC marks a gratuitous reply
	}
	copy(a[24:28], ip[:])
	return f
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
