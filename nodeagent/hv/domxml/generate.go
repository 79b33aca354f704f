package domxml

import (
	"encoding/xml"
	"fmt"

	"github.com/drover-project/drover/nodeagent/hv"
)

// Options tune generation.
type Options struct {
	// KVMType is the domain type for hv.KindKVM: "kvm" (hardware
	// acceleration) or "qemu" (TCG emulation). Default "kvm".
	KVMType string
}

// Generate returns the domain XML for spec. spec.Kind selects the hypervisor;
// hv.KindFake has no XML.
func Generate(spec hv.DomainSpec, opts Options) ([]byte, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	d := Domain{
		Name:        spec.Name,
		UUID:        spec.UUID,
		Description: "managed by drover",
		Memory:      Memory{Unit: "MiB", Value: spec.MemoryMiB},
		VCPU:        spec.VCPUs,
		OnPoweroff:  "destroy",
		OnReboot:    "restart",
		OnCrash:     "destroy",
	}
	if spec.ConsoleLog != "" {
		d.Metadata = &Metadata{Drover: &DroverMeta{ConsoleLog: spec.ConsoleLog}}
	}
	var err error
	switch spec.Kind {
	case hv.KindKVM:
		err = kvm(&d, spec, opts)
	case hv.KindTest:
		err = test(&d, spec)
	case hv.KindXen:
		err = xen(&d, spec)
	case hv.KindLXC:
		err = lxc(&d, spec)
	case hv.KindOpenVZ:
		err = openvz(&d, spec)
	default:
		err = fmt.Errorf("domxml: domain %q: no XML for hypervisor %q: %w", spec.Name, spec.Kind, hv.ErrUnsupported)
	}
	if err != nil {
		return nil, err
	}
	out, err := xml.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("domxml: marshal %q: %w", spec.Name, err)
	}
	return append(out, '\n'), nil
}

func invalid(spec hv.DomainSpec, format string, a ...any) error {
	return fmt.Errorf("domxml: domain %q: %s: %w", spec.Name, fmt.Sprintf(format, a...), hv.ErrInvalidSpec)
}

func kvm(d *Domain, spec hv.DomainSpec, opts Options) error {
	d.Type = opts.KVMType
	if d.Type == "" {
		d.Type = "kvm"
	}
	if d.Type != "kvm" && d.Type != "qemu" {
		return invalid(spec, "kvm domain type must be kvm or qemu, not %q", d.Type)
	}
	d.OS = OS{Type: OSType{Arch: "x86_64", Value: "hvm"}}
	directBoot(d, spec)
	d.Features = &Features{ACPI: &struct{}{}, APIC: &struct{}{}}
	d.Devices.Disks = disks(spec, hv.BusVirtio, "qemu")
	d.Devices.Interfaces = nics(spec, "virtio", "user")
	d.Devices.Controllers = []Controller{{Type: "usb", Model: "none"}}
	d.Devices.Serials, d.Devices.Consoles = serial(spec, "serial")
	d.Devices.MemBalloon = &MemBalloon{Model: "none"}
	return nil
}

func test(d *Domain, spec hv.DomainSpec) error {
	d.Type = "test"
	d.OS = OS{Type: OSType{Arch: "x86_64", Value: "hvm"}}
	directBoot(d, spec)
	d.Devices.Disks = disks(spec, hv.BusVirtio, "")
	d.Devices.Interfaces = nics(spec, "", "")
	d.Devices.Serials, d.Devices.Consoles = serial(spec, "serial")
	return nil
}

func xen(d *Domain, spec hv.DomainSpec) error {
	d.Type = "xen"
	if spec.HVM {
		d.OS = OS{Type: OSType{Arch: "x86_64", Machine: "xenfv", Value: "hvm"}, Loader: "/usr/lib/xen/boot/hvmloader"}
		directBoot(d, spec)
		d.Features = &Features{ACPI: &struct{}{}, APIC: &struct{}{}, PAE: &struct{}{}}
		d.Devices.Disks = disks(spec, hv.BusIDE, "qemu")
		d.Devices.Interfaces = nics(spec, "e1000", "")
		d.Devices.Serials, d.Devices.Consoles = serial(spec, "serial")
		return nil
	}
	if spec.Kernel == "" {
		// PV without a kernel boots through pygrub-style bootloaders, which
		// drover does not manage: ask for direct kernel boot instead.
		return invalid(spec, "xen PV needs a kernel for direct boot (or set HVM)")
	}
	d.OS = OS{Type: OSType{Arch: "x86_64", Machine: "xenpv", Value: "linux"}}
	directBoot(d, spec)
	d.Devices.Disks = disks(spec, hv.BusXen, "qemu")
	d.Devices.Interfaces = nics(spec, "", "")
	port := 0
	if spec.ConsoleLog != "" {
		d.Devices.Consoles = []Chardev{{Type: "file", Source: &ChardevSource{Path: spec.ConsoleLog}, Target: &ChardevTarget{Type: "xen", Port: &port}}}
	} else {
		d.Devices.Consoles = []Chardev{{Type: "pty", Target: &ChardevTarget{Type: "xen", Port: &port}}}
	}
	return nil
}

func lxc(d *Domain, spec hv.DomainSpec) error {
	d.Type = "lxc"
	d.OS = OS{Type: OSType{Arch: "x86_64", Value: "exe"}, Init: initOr(spec)}
	switch {
	case spec.RootDir != "":
		d.Devices.Filesystems = []Filesystem{{Type: "mount", Source: FSSource{Dir: spec.RootDir}, Target: FSTarget{Dir: "/"}}}
	case len(spec.Disks) > 0:
		// A raw disk image holding the root filesystem, loop-mounted.
		d.Devices.Filesystems = []Filesystem{{Type: "file", AccessMode: "passthrough",
			Driver: &DiskDriver{Type: "loop", Format: "raw"},
			Source: FSSource{File: spec.Disks[0].Path}, Target: FSTarget{Dir: "/"}}}
	default:
		return invalid(spec, "lxc needs a root directory or a disk image")
	}
	d.Devices.Interfaces = nics(spec, "", "")
	if len(spec.NICs) == 0 {
		// No host link: a private network namespace with only loopback.
		d.Features = &Features{Privnet: &struct{}{}}
	}
	d.Devices.Consoles = []Chardev{{Type: "pty"}}
	return nil
}

func openvz(d *Domain, spec hv.DomainSpec) error {
	d.Type = "openvz"
	d.OS = OS{Type: OSType{Value: "exe"}, Init: initOr(spec)}
	if spec.RootDir == "" {
		return invalid(spec, "openvz needs a root directory")
	}
	d.Devices.Filesystems = []Filesystem{{Type: "mount", Source: FSSource{Dir: spec.RootDir}, Target: FSTarget{Dir: "/"}}}
	d.Devices.Interfaces = nics(spec, "", "")
	return nil
}

func initOr(spec hv.DomainSpec) string {
	if spec.Init != "" {
		return spec.Init
	}
	return "/sbin/init"
}

func directBoot(d *Domain, spec hv.DomainSpec) {
	if spec.Kernel == "" {
		d.OS.Boot = &Boot{Dev: "hd"}
		return
	}
	d.OS.Kernel, d.OS.Initrd, d.OS.Cmdline = spec.Kernel, spec.Initrd, spec.Cmdline
}

var busPrefix = map[hv.DiskBus]string{hv.BusVirtio: "vd", hv.BusSCSI: "sd", hv.BusSATA: "sd", hv.BusIDE: "hd", hv.BusXen: "xvd"}

// TargetName is the guest device name of the i-th disk on bus (vda, sdb...).
func TargetName(bus hv.DiskBus, i int) string {
	p, ok := busPrefix[bus]
	if !ok {
		p = "vd"
	}
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('a'+(i-1)%26)) + name
	}
	return p + name
}

func disks(spec hv.DomainSpec, defBus hv.DiskBus, driver string) []Disk {
	var out []Disk
	for i, sd := range spec.Disks {
		bus := sd.Bus
		if bus == "" {
			bus = defBus
		}
		target := sd.Target
		if target == "" {
			target = TargetName(bus, i)
		}
		format := sd.Format
		if format == "" {
			format = hv.FormatRaw
		}
		d := Disk{Type: "file", Device: "disk", Target: DiskTarget{Dev: target, Bus: string(bus)}}
		if sd.Block {
			d.Type, d.Source.Dev = "block", sd.Path
		} else {
			d.Source.File = sd.Path
		}
		if driver != "" {
			d.Driver = &DiskDriver{Name: driver, Type: string(format)}
			if driver == "qemu" && defBus == hv.BusVirtio {
				d.Driver.Cache = "none"
			}
		}
		if sd.ReadOnly {
			d.ReadOnly = &struct{}{}
		}
		out = append(out, d)
	}
	return out
}

func nics(spec hv.DomainSpec, defModel, unbridged string) []Interface {
	var out []Interface
	for _, n := range spec.NICs {
		i := Interface{MAC: &MAC{Address: n.MAC}}
		switch {
		case n.Bridge != "":
			i.Type, i.Source = "bridge", &IfaceSource{Bridge: n.Bridge}
		case n.Network != "":
			i.Type, i.Source = "network", &IfaceSource{Network: n.Network}
		case unbridged != "":
			i.Type = unbridged
		default:
			i.Type, i.Source = "network", &IfaceSource{Network: "default"}
		}
		model := n.Model
		if model == "" {
			model = defModel
		}
		if model != "" {
			i.Model = &IfaceModel{Type: model}
		}
		out = append(out, i)
	}
	return out
}

// serial gives a serial port writing to spec.ConsoleLog (or a pty) and the
// matching console.
func serial(spec hv.DomainSpec, consoleTarget string) (serials, consoles []Chardev) {
	port := 0
	s := Chardev{Type: "pty", Target: &ChardevTarget{Port: &port}}
	if spec.ConsoleLog != "" {
		s.Type, s.Source = "file", &ChardevSource{Path: spec.ConsoleLog, Append: "on"}
	}
	c := s
	c.Target = &ChardevTarget{Type: consoleTarget, Port: &port}
	return []Chardev{s}, []Chardev{c}
}
