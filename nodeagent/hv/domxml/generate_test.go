package domxml_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/domxml"
)

func base(kind hv.Kind) hv.DomainSpec {
	return hv.DomainSpec{
		Name: "web1", UUID: "6f0e2b7c-1d2a-4b3c-9d4e-5f6a7b8c9d0e", Kind: kind, VCPUs: 2, MemoryMiB: 512,
		Disks:      []hv.Disk{{Path: "/srv/drover/web1/disk0.img"}, {Path: "/dev/drbd1", Block: true}},
		NICs:       []hv.NIC{{MAC: "aa:00:00:11:22:33", Bridge: "br0"}, {MAC: "aa:00:00:11:22:34"}},
		ConsoleLog: "/var/log/drover/web1.console",
		Kernel:     "/boot/vmlinuz", Initrd: "/boot/initrd.img", Cmdline: "console=ttyS0 root=/dev/vda ro",
	}
}

func validator(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("virt-xml-validate")
	if err != nil {
		realtest.Need(t, "virt-xml-validate not installed (apt-get install libvirt-clients)")
	}
	return p
}

// TestValidate checks every hypervisor's XML against libvirt's own schema.
func TestValidate(t *testing.T) {
	tool := validator(t)
	lxcDisk := base(hv.KindLXC)
	lxcDisk.Name = "ct-disk"
	cases := map[string]hv.DomainSpec{}
	kvm := base(hv.KindKVM)
	cases["kvm"] = kvm
	kvmDisk := base(hv.KindKVM)
	kvmDisk.Kernel, kvmDisk.Initrd, kvmDisk.Cmdline, kvmDisk.ConsoleLog = "", "", "", ""
	cases["kvm-diskboot-pty"] = kvmDisk
	cases["test"] = base(hv.KindTest)
	cases["xen-pv"] = base(hv.KindXen)
	xenPty := base(hv.KindXen)
	xenPty.ConsoleLog = ""
	cases["xen-pv-pty"] = xenPty
	xenHVM := base(hv.KindXen)
	xenHVM.HVM, xenHVM.Kernel, xenHVM.Initrd, xenHVM.Cmdline = true, "", "", ""
	cases["xen-hvm"] = xenHVM
	lxc := base(hv.KindLXC)
	lxc.RootDir, lxc.Disks, lxc.ConsoleLog, lxc.Kernel, lxc.Initrd, lxc.Cmdline = "/srv/drover/web1/root", nil, "", "", "", ""
	cases["lxc"] = lxc
	lxcPriv := lxc
	lxcPriv.NICs = nil
	lxcPriv.ConsoleLog = "/var/log/drover/ct.console"
	cases["lxc-privnet"] = lxcPriv
	lxcDisk.Kernel, lxcDisk.Initrd, lxcDisk.Cmdline = "", "", ""
	cases["lxc-disk"] = lxcDisk
	ovz := lxc
	ovz.Kind = hv.KindOpenVZ
	cases["openvz"] = ovz

	dir := t.TempDir()
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			opts := domxml.Options{}
			if spec.Kind == hv.KindKVM {
				opts.KVMType = "qemu"
			}
			out, err := domxml.Generate(spec, opts)
			if err != nil {
				t.Fatalf("generate: %v", err)
			}
			f := filepath.Join(dir, name+".xml")
			if err := os.WriteFile(f, out, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := exec.Command(tool, f, "domain").CombinedOutput()
			if err != nil {
				t.Fatalf("virt-xml-validate %s: %v\n%s\n%s", name, err, res, out)
			}
			p, err := domxml.Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != spec.Name || p.VCPUs != spec.VCPUs || p.MemoryMiB != spec.MemoryMiB || p.UUID != spec.UUID {
				t.Errorf("parse back: %+v", p)
			}
			if p.MetaConsoleLog != spec.ConsoleLog {
				t.Errorf("metadata console log %q, want %q", p.MetaConsoleLog, spec.ConsoleLog)
			}
			if spec.ConsoleLog != "" && (spec.Kind == hv.KindKVM || spec.Kind == hv.KindTest || spec.Kind == hv.KindXen) && p.ConsoleLog != spec.ConsoleLog {
				t.Errorf("console log %q, want %q", p.ConsoleLog, spec.ConsoleLog)
			}
		})
	}
}

func TestContent(t *testing.T) {
	out, err := domxml.Generate(base(hv.KindKVM), domxml.Options{KVMType: "qemu"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		`<domain type="qemu">`, `<memory unit="MiB">512</memory>`, `<vcpu>2</vcpu>`,
		`<kernel>/boot/vmlinuz</kernel>`, `<target dev="vda" bus="virtio">`, `<target dev="vdb" bus="virtio">`,
		`<source dev="/dev/drbd1">`, `<mac address="aa:00:00:11:22:33">`, `<source bridge="br0">`,
		`<interface type="user">`, `<source path="/var/log/drover/web1.console" append="on">`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("kvm XML lacks %s:\n%s", want, s)
		}
	}
	if out, _ := domxml.Generate(base(hv.KindKVM), domxml.Options{}); !strings.Contains(string(out), `<domain type="kvm">`) {
		t.Errorf("default kvm type:\n%s", out)
	}
}

func TestErrors(t *testing.T) {
	for name, mut := range map[string]func(*hv.DomainSpec){
		"fake":           func(s *hv.DomainSpec) { s.Kind = hv.KindFake },
		"bad name":       func(s *hv.DomainSpec) { s.Name = "a/b" },
		"no vcpus":       func(s *hv.DomainSpec) { s.VCPUs = 0 },
		"bad mac":        func(s *hv.DomainSpec) { s.NICs[0].MAC = "AA-00" },
		"xen pv no kern": func(s *hv.DomainSpec) { s.Kind, s.Kernel, s.Initrd = hv.KindXen, "", "" },
		"lxc no root":    func(s *hv.DomainSpec) { s.Kind, s.Disks = hv.KindLXC, nil },
	} {
		s := base(hv.KindKVM)
		mut(&s)
		_, err := domxml.Generate(s, domxml.Options{})
		if !errors.Is(err, hv.ErrInvalidSpec) && !errors.Is(err, hv.ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrInvalidSpec or ErrUnsupported", name, err)
		}
	}
}

func TestTargetName(t *testing.T) {
	for i, want := range map[int]string{0: "vda", 1: "vdb", 25: "vdz", 26: "vdaa", 27: "vdab"} {
		if got := domxml.TargetName(hv.BusVirtio, i); got != want {
			t.Errorf("TargetName(%d) = %s, want %s", i, got, want)
		}
	}
	if got := domxml.TargetName(hv.BusXen, 0); got != "xvda" {
		t.Errorf("xen: %s", got)
	}
}
