package nodeagent

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pinger sends ICMP echo requests and collects the replies, one socket per
// address family: a raw socket when the agent may open one (root), else
// the kernel's unprivileged ping socket (net.ipv4.ping_group_range).
type pinger struct {
	mu    sync.Mutex
	id    int
	seq   int
	conns map[bool]*pingConn // by IPv6
}

type pingConn struct {
	c   *icmp.PacketConn
	raw bool
}

func newPinger() *pinger {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return &pinger{id: int(binary.BigEndian.Uint16(b[:])), conns: map[bool]*pingConn{}}
}

func (p *pinger) conn(v6 bool) (*pingConn, error) {
	if c := p.conns[v6]; c != nil {
		return c, nil
	}
	raw, dgram := "ip4:icmp", "udp4"
	if v6 {
		raw, dgram = "ip6:ipv6-icmp", "udp6"
	}
	if c, err := icmp.ListenPacket(raw, ""); err == nil {
		p.conns[v6] = &pingConn{c: c, raw: true}
		return p.conns[v6], nil
	}
	c, err := icmp.ListenPacket(dgram, "")
	if err != nil {
		return nil, fmt.Errorf("open an ICMP socket: %w", err)
	}
	p.conns[v6] = &pingConn{c: c}
	return p.conns[v6], nil
}

// round sends one echo request to every target and returns those that
// answered within wait. Targets that are not IP addresses never answer.
func (p *pinger) round(targets []string, wait time.Duration) (map[string]bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq = (p.seq + 1) & 0xffff
	answered := map[string]bool{}
	sent := map[bool]map[netip.Addr]string{}
	var errs []error
	for _, t := range targets {
		ip, err := netip.ParseAddr(t)
		if err != nil {
			continue
		}
		ip = ip.Unmap()
		v6 := ip.Is6()
		c, err := p.conn(v6)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var typ icmp.Type = ipv4.ICMPTypeEcho
		if v6 {
			typ = ipv6.ICMPTypeEchoRequest
		}
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: p.id, Seq: p.seq, Data: []byte("drover uplink")}}
		b, err := msg.Marshal(nil)
		if err != nil {
			return nil, err
		}
		var dst net.Addr = &net.IPAddr{IP: ip.AsSlice()}
		if !c.raw {
			dst = &net.UDPAddr{IP: ip.AsSlice()}
		}
		if _, err := c.c.WriteTo(b, dst); err != nil {
			// No route, a link that is down: no answer this round.
			continue
		}
		if sent[v6] == nil {
			sent[v6] = map[netip.Addr]string{}
		}
		sent[v6][ip] = t
	}
	deadline := time.Now().Add(wait)
	for v6, want := range sent {
		p.collect(p.conns[v6], v6, want, answered, deadline)
	}
	if len(answered) == 0 && len(errs) > 0 {
		return answered, errors.Join(errs...)
	}
	return answered, nil
}

// collect reads echo replies of this round from c until every target in
// want answered or the deadline passed.
func (p *pinger) collect(c *pingConn, v6 bool, want map[netip.Addr]string, answered map[string]bool, deadline time.Time) {
	proto := 1
	if v6 {
		proto = 58
	}
	buf := make([]byte, 1500)
	left := len(want)
	for left > 0 {
		if err := c.c.SetReadDeadline(deadline); err != nil {
			return
		}
		n, from, err := c.c.ReadFrom(buf)
		if err != nil {
			return
		}
		msg, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || (msg.Type != ipv4.ICMPTypeEchoReply && msg.Type != ipv6.ICMPTypeEchoReply) {
			continue
		}
		echo, ok := msg.Body.(*icmp.Echo)
		// The unprivileged socket sets the ID itself and delivers only
		// this socket's replies.
		if !ok || echo.Seq != p.seq || (c.raw && echo.ID != p.id) {
			continue
		}
		var src netip.Addr
		switch a := from.(type) {
		case *net.IPAddr:
			src, _ = netip.AddrFromSlice(a.IP)
		case *net.UDPAddr:
			src, _ = netip.AddrFromSlice(a.IP)
		}
		if t, ok := want[src.Unmap()]; ok && !answered[t] {
			answered[t] = true
			left--
		}
	}
}

func (p *pinger) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.c.Close()
	}
	p.conns = map[bool]*pingConn{}
}
