package floatip

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

func TestARPFrame(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	ip := netip.MustParseAddr("192.0.2.10")
	for _, tc := range []struct {
		op  byte
		tha []byte
	}{
		{arpRequest, make([]byte, 6)},
		{arpReply, mac},
	} {
		f := arpFrame(mac, ip, tc.op)
		if len(f) != 42 {
			t.Fatalf("op %d: frame of %d bytes, want 42", tc.op, len(f))
		}
		checks := []struct {
			what      string
			got, want []byte
		}{
			{"destination", f[0:6], broadcast},
			{"source", f[6:12], mac},
			{"ethertype", f[12:14], []byte{0x08, 0x06}},
			{"htype, ptype, hlen, plen", f[14:20], []byte{0, 1, 0x08, 0, 6, 4}},
			{"op", f[20:22], []byte{0, tc.op}},
			{"sender MAC", f[22:28], mac},
			{"sender IP", f[28:32], []byte{192, 0, 2, 10}},
			{"target MAC", f[32:38], tc.tha},
			{"target IP", f[38:42], []byte{192, 0, 2, 10}},
		}
		for _, c := range checks {
			if !bytes.Equal(c.got, c.want) {
				t.Errorf("op %d: %s = % x, want % x", tc.op, c.what, c.got, c.want)
			}
		}
	}
}
