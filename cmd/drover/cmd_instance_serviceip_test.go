package main

import "testing"

func TestCutServiceIP(t *testing.T) {
	for _, tc := range []struct {
		in, rest, sip string
		set, ok       bool
	}{
		{"vcpus=2,memory=1G", "vcpus=2,memory=1G", "", false, true},
		{"service_ip=192.0.2.20/24@br0", "", "192.0.2.20/24@br0", true, true},
		{"vcpus=2,service_ip=192.0.2.20/24@br0,memory=1G", "vcpus=2,memory=1G", "192.0.2.20/24@br0", true, true},
		{"service_ip=", "", "", true, true},
		{"service_ip=192.0.2.20/24", "", "", false, false},
		{"service_ip=192.0.2.20@br0", "", "", false, false},
	} {
		rest, sip, err := cutServiceIP(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%t", tc.in, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		if rest != tc.rest || (sip != nil) != tc.set || (sip != nil && *sip != tc.sip) {
			t.Errorf("%q: rest %q, service_ip %v, want %q, %q (set %t)", tc.in, rest, sip, tc.rest, tc.sip, tc.set)
		}
	}
}
