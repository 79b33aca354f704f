package hv

import (
	"fmt"
	"regexp"
)

// Kind names a hypervisor.
type Kind string

const (
	KindFake   Kind = "fake"
	KindKVM    Kind = "kvm"
	KindLXC    Kind = "lxc"
	KindXen    Kind = "xen"
	KindOpenVZ Kind = "openvz"
	KindTest   Kind = "test"
	// KindWorkload runs each instance as a disk-writing process (node
	// guests, where no hypervisor runs; see package workload).
	KindWorkload Kind = "workload"
)

// Kinds lists every hypervisor kind drover knows.
var Kinds = []Kind{KindFake, KindKVM, KindLXC, KindXen, KindOpenVZ, KindTest, KindWorkload}

// ParseKind checks a hypervisor name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("hv: unknown hypervisor %q (want one of fake, kvm, lxc, xen, openvz, test, workload): %w", s, ErrUnsupported)
}

// DomainState is a domain's run state.
type DomainState string

const (
	StateRunning  DomainState = "running"
	StateStopped  DomainState = "stopped"
	StatePaused   DomainState = "paused"
	StateShutdown DomainState = "shutting_down"
	StateCrashed  DomainState = "crashed"
	StateBlocked  DomainState = "blocked"
	StateUnknown  DomainState = "unknown"
)

// Active reports whether a domain in this state holds resources (is not off).
func (s DomainState) Active() bool {
	switch s {
	case StateRunning, StatePaused, StateShutdown, StateBlocked:
		return true
	}
	return false
}

// DomainInfo is one row of List.
type DomainInfo struct {
	Name      string
	UUID      string
	State     DomainState
	VCPUs     int
	MemoryMiB int64
}

// NodeResources is the node's capacity and current use by running domains.
type NodeResources struct {
	CPUs          int
	MemoryMiB     int64 // total physical (or configured) memory
	FreeMemoryMiB int64 // free as reported by the host (fake: total - used)
	UsedVCPUs     int   // sum of vcpus of active domains
	UsedMemoryMiB int64 // sum of memory of active domains
	Domains       int   // defined domains
	Running       int   // active domains
}

// DiskFormat is the on-disk format of a disk image.
type DiskFormat string

const (
	FormatRaw   DiskFormat = "raw"
	FormatQcow2 DiskFormat = "qcow2"
)

// DiskBus is how a disk is attached.
type DiskBus string

const (
	BusVirtio DiskBus = "virtio"
	BusSCSI   DiskBus = "scsi"
	BusIDE    DiskBus = "ide"
	BusSATA   DiskBus = "sata"
	BusXen    DiskBus = "xen"
)

// Disk is one block device of a domain.
type Disk struct {
	// Path of a file or block device on the node (sparse file, LV, /dev/drbdN).
	Path string
	// Format, default raw.
	Format DiskFormat
	// Bus, default per hypervisor (virtio for kvm, xen for xen).
	Bus DiskBus
	// Target device name in the guest ("vda", "xvda"); default by index and bus.
	Target string
	// Block is true when Path is a block device rather than a file.
	Block    bool
	ReadOnly bool
}

// NIC is one network interface.
type NIC struct {
	// MAC address, lower-case, colon separated. Required.
	MAC string
	// Bridge on the host to attach to. Empty with Network empty: user/private
	// networking (kvm: no host link; lxc: privnet).
	Bridge string
	// Network names a libvirt network instead of a bridge.
	Network string
	// Model, default virtio for kvm.
	Model string
}

// DomainSpec is everything a driver needs to define a domain.
type DomainSpec struct {
	Name string
	// UUID, canonical form; drivers generate one when empty.
	UUID      string
	Kind      Kind
	VCPUs     int
	MemoryMiB int64
	Disks     []Disk
	NICs      []NIC
	// ConsoleLog is the file the serial console is written to (kvm, xen,
	// test); empty means a pty console. Its directory must exist.
	ConsoleLog string
	// Direct kernel boot (kvm, xen PV). Empty Kernel: boot from the first disk.
	Kernel  string
	Initrd  string
	Cmdline string
	// RootDir is the container's root filesystem directory (lxc, openvz).
	RootDir string
	// Init is the container's init program (lxc), default /sbin/init.
	Init string
	// HVM selects full virtualisation for xen (default PV).
	HVM bool
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,62})$`)
var macRE = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)

// Validate checks the fields every driver needs. It returns an error wrapping
// ErrInvalidSpec.
func (s DomainSpec) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("hv: domain %q: %s: %w", s.Name, fmt.Sprintf(format, a...), ErrInvalidSpec)
	}
	if !nameRE.MatchString(s.Name) {
		return bad("name must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if s.VCPUs < 1 {
		return bad("vcpus must be at least 1, got %d", s.VCPUs)
	}
	if s.MemoryMiB < 1 {
		return bad("memory must be at least 1 MiB, got %d", s.MemoryMiB)
	}
	for i, d := range s.Disks {
		if d.Path == "" {
			return bad("disk %d has no path", i)
		}
		switch d.Format {
		case "", FormatRaw, FormatQcow2:
		default:
			return bad("disk %d: unknown format %q", i, d.Format)
		}
	}
	for i, n := range s.NICs {
		if !macRE.MatchString(n.MAC) {
			return bad("nic %d: MAC %q is not of the form aa:bb:cc:dd:ee:ff", i, n.MAC)
		}
	}
	if s.Initrd != "" && s.Kernel == "" {
		return bad("initrd given without kernel")
	}
	return nil
}
