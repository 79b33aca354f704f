package hv_test

import (
	"errors"
	"testing"

	"github.com/drover-project/drover/nodeagent/hv"
)

func TestValidate(t *testing.T) {
	ok := hv.DomainSpec{Name: "web-1.example", VCPUs: 1, MemoryMiB: 128,
		Disks: []hv.Disk{{Path: "/d"}}, NICs: []hv.NIC{{MAC: "aa:00:00:00:00:01"}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	for name, mut := range map[string]func(*hv.DomainSpec){
		"empty name":     func(s *hv.DomainSpec) { s.Name = "" },
		"slash":          func(s *hv.DomainSpec) { s.Name = "a/b" },
		"leading dash":   func(s *hv.DomainSpec) { s.Name = "-a" },
		"long name":      func(s *hv.DomainSpec) { s.Name = string(make([]byte, 64)) },
		"zero vcpus":     func(s *hv.DomainSpec) { s.VCPUs = 0 },
		"zero memory":    func(s *hv.DomainSpec) { s.MemoryMiB = 0 },
		"disk no path":   func(s *hv.DomainSpec) { s.Disks[0].Path = "" },
		"disk format":    func(s *hv.DomainSpec) { s.Disks[0].Format = "vmdk" },
		"upper mac":      func(s *hv.DomainSpec) { s.NICs[0].MAC = "AA:00:00:00:00:01" },
		"short mac":      func(s *hv.DomainSpec) { s.NICs[0].MAC = "aa:00:00:00:01" },
		"initrd no kern": func(s *hv.DomainSpec) { s.Initrd = "/i" },
	} {
		s := ok
		s.Disks = append([]hv.Disk(nil), ok.Disks...)
		s.NICs = append([]hv.NIC(nil), ok.NICs...)
		mut(&s)
		if err := s.Validate(); !errors.Is(err, hv.ErrInvalidSpec) {
			t.Errorf("%s: %v, want ErrInvalidSpec", name, err)
		}
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range hv.Kinds {
		if got, err := hv.ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%s) = %s, %v", k, got, err)
		}
	}
	if _, err := hv.ParseKind("vmware"); !errors.Is(err, hv.ErrUnsupported) {
		t.Errorf("vmware: %v", err)
	}
}

func TestStateActive(t *testing.T) {
	for s, want := range map[hv.DomainState]bool{hv.StateRunning: true, hv.StatePaused: true, hv.StateShutdown: true,
		hv.StateBlocked: true, hv.StateStopped: false, hv.StateCrashed: false, hv.StateUnknown: false} {
		if s.Active() != want {
			t.Errorf("%s.Active() = %v", s, !want)
		}
	}
}
