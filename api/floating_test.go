package api_test

import (
	"testing"

	"github.com/drover-project/drover/api"
)

func TestFloatingAddressInput(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"192.0.2.10/24", true},
		{"10.0.0.5/32", true},
		{"198.19.77.50/24", true},
		{"192.0.2.10", false},     // no prefix
		{"192.0.2.0/24", false},   // network address
		{"192.0.2.255/24", false}, // broadcast address
		{"2001:db8::1/64", false}, // IPv6: no gratuitous ARP
		{"224.0.0.5/24", false},   // multicast
		{"127.0.0.1/8", false},    // loopback
		{"300.1.1.1/24", false},
		{"10.0.0.5/4", false},
		{"", false},
	} {
		_, err := api.ParseFloatingIP(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseFloatingIP(%q): err %v, want ok=%t", tc.in, err, tc.ok)
		}
		if err != nil && api.CodeOf(err) != api.CodeWrongInput {
			t.Errorf("ParseFloatingIP(%q): code %s, want wrong_input", tc.in, api.CodeOf(err))
		}
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"192.0.2.20/24@br0", true},
		{"192.0.2.20/24@eth0.100", true},
		{"192.0.2.20/24", false},
		{"192.0.2.20/24@", false},
		{"192.0.2.20/24@a/b", false},
		{"192.0.2.20/24@averyveryverylongname", false},
		{"192.0.2.20@br0", false},
	} {
		sip, err := api.ParseServiceIP(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseServiceIP(%q): err %v, want ok=%t", tc.in, err, tc.ok)
		}
		if err == nil && sip.String() != tc.in {
			t.Errorf("ParseServiceIP(%q).String() = %q", tc.in, sip.String())
		}
	}
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		m  api.ClusterModify
		ok bool
	}{
		{api.ClusterModify{ClusterIP: s("192.0.2.10/24"), ClusterIPDev: s("br0")}, true},
		{api.ClusterModify{ClusterIP: s("192.0.2.11/24")}, true}, // the device stays
		{api.ClusterModify{ClusterIPDev: s("eth1")}, true},
		{api.ClusterModify{ClusterIP: s("")}, true}, // removes both
		{api.ClusterModify{}, false},
		{api.ClusterModify{ClusterIP: s(""), ClusterIPDev: s("br0")}, false},
		{api.ClusterModify{ClusterIP: s("192.0.2.10")}, false},
		{api.ClusterModify{ClusterIPDev: s("")}, false},
	} {
		if err := tc.m.Validate(); (err == nil) != tc.ok {
			t.Errorf("ClusterModify{%v, %v}.Validate(): err %v, want ok=%t", tc.m.ClusterIP, tc.m.ClusterIPDev, err, tc.ok)
		}
	}
}
