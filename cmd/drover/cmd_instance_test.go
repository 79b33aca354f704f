package main

import (
	"slices"
	"testing"
)

func TestParseMiB(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "512M": 512, "512m": 512, "10G": 10240, "1.5g": 1536, "1T": 1 << 20, "2GiB": 2048, "64MB": 64} {
		got, err := parseMiB(in)
		if err != nil || got != want {
			t.Errorf("parseMiB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1G", "ten", "5X", "1e20T"} {
		if _, err := parseMiB(in); err == nil {
			t.Errorf("parseMiB(%q) accepted", in)
		}
	}
}

func TestParseBE(t *testing.T) {
	v, m, err := parseBE("vcpus=2,memory=1G")
	if err != nil || *v != 2 || *m != 1024 {
		t.Fatalf("parseBE: %v %v %v", v, m, err)
	}
	v, m, err = parseBE("maxmem=256")
	if err != nil || v != nil || *m != 256 {
		t.Fatalf("parseBE maxmem: %v %v %v", v, m, err)
	}
	for _, in := range []string{"vcpus=0", "vcpus", "disk=1G", "memory=lots"} {
		if _, _, err := parseBE(in); err == nil {
			t.Errorf("parseBE(%q) accepted", in)
		}
	}
}

func TestTrailingFlags(t *testing.T) {
	pos, vals, err := trailingFlags([]string{"deb1", "--suite", "trixie", "--include=a,b"}, "suite", "include")
	if err != nil || !slices.Equal(pos, []string{"deb1"}) || vals["suite"] != "trixie" || vals["include"] != "a,b" {
		t.Fatalf("trailingFlags: %v %v %v", pos, vals, err)
	}
	if _, _, err := trailingFlags([]string{"deb1", "--bogus", "x"}, "suite"); err == nil {
		t.Error("unknown flag accepted")
	}
	if _, _, err := trailingFlags([]string{"deb1", "--suite"}, "suite"); err == nil {
		t.Error("flag without value accepted")
	}
}
