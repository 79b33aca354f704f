package domxml

import "encoding/xml"

// Domain is the subset of libvirt's domain XML that drover writes.
type Domain struct {
	XMLName     xml.Name  `xml:"domain"`
	Type        string    `xml:"type,attr"`
	Name        string    `xml:"name"`
	UUID        string    `xml:"uuid,omitempty"`
	Description string    `xml:"description,omitempty"`
	Metadata    *Metadata `xml:"metadata,omitempty"`
	Memory      Memory    `xml:"memory"`
	VCPU        int       `xml:"vcpu"`
	OS          OS        `xml:"os"`
	Features    *Features `xml:"features,omitempty"`
	OnPoweroff  string    `xml:"on_poweroff,omitempty"`
	OnReboot    string    `xml:"on_reboot,omitempty"`
	OnCrash     string    `xml:"on_crash,omitempty"`
	Devices     Devices   `xml:"devices"`
}

// Memory is an amount with a unit.
type Memory struct {
	Unit  string `xml:"unit,attr"`
	Value int64  `xml:",chardata"`
}

// OS is the <os> element.
type OS struct {
	Type    OSType `xml:"type"`
	Loader  string `xml:"loader,omitempty"`
	Kernel  string `xml:"kernel,omitempty"`
	Initrd  string `xml:"initrd,omitempty"`
	Cmdline string `xml:"cmdline,omitempty"`
	Init    string `xml:"init,omitempty"`
	Boot    *Boot  `xml:"boot,omitempty"`
}

// OSType is <os><type arch machine>hvm</type>.
type OSType struct {
	Arch    string `xml:"arch,attr,omitempty"`
	Machine string `xml:"machine,attr,omitempty"`
	Value   string `xml:",chardata"`
}

// Boot is <boot dev>.
type Boot struct {
	Dev string `xml:"dev,attr"`
}

// Features are the hypervisor features.
type Features struct {
	ACPI    *struct{} `xml:"acpi,omitempty"`
	APIC    *struct{} `xml:"apic,omitempty"`
	PAE     *struct{} `xml:"pae,omitempty"`
	Privnet *struct{} `xml:"privnet,omitempty"`
}

// Devices is <devices>.
type Devices struct {
	Emulator    string       `xml:"emulator,omitempty"`
	Disks       []Disk       `xml:"disk"`
	Filesystems []Filesystem `xml:"filesystem"`
	Controllers []Controller `xml:"controller"`
	Interfaces  []Interface  `xml:"interface"`
	Serials     []Chardev    `xml:"serial"`
	Consoles    []Chardev    `xml:"console"`
	MemBalloon  *MemBalloon  `xml:"memballoon,omitempty"`
}

// Disk is <disk>.
type Disk struct {
	Type     string      `xml:"type,attr"`
	Device   string      `xml:"device,attr"`
	Driver   *DiskDriver `xml:"driver,omitempty"`
	Source   DiskSource  `xml:"source"`
	Target   DiskTarget  `xml:"target"`
	ReadOnly *struct{}   `xml:"readonly,omitempty"`
}

// DiskDriver is <disk><driver>.
type DiskDriver struct {
	Name   string `xml:"name,attr,omitempty"`
	Format string `xml:"format,attr,omitempty"`
	Type   string `xml:"type,attr,omitempty"`
	Cache  string `xml:"cache,attr,omitempty"`
}

// DiskSource is <disk><source file|dev>.
type DiskSource struct {
	File string `xml:"file,attr,omitempty"`
	Dev  string `xml:"dev,attr,omitempty"`
}

// DiskTarget is <disk><target>.
type DiskTarget struct {
	Dev string `xml:"dev,attr"`
	Bus string `xml:"bus,attr,omitempty"`
}

// Filesystem is <filesystem> (containers).
type Filesystem struct {
	Type       string      `xml:"type,attr"`
	AccessMode string      `xml:"accessmode,attr,omitempty"`
	Driver     *DiskDriver `xml:"driver,omitempty"`
	Source     FSSource    `xml:"source"`
	Target     FSTarget    `xml:"target"`
}

// FSSource is <filesystem><source dir|name>.
type FSSource struct {
	Dir  string `xml:"dir,attr,omitempty"`
	File string `xml:"file,attr,omitempty"`
	Name string `xml:"name,attr,omitempty"`
}

// FSTarget is <filesystem><target dir>.
type FSTarget struct {
	Dir string `xml:"dir,attr"`
}

// Controller is <controller>.
type Controller struct {
	Type  string `xml:"type,attr"`
	Model string `xml:"model,attr,omitempty"`
}

// Interface is <interface>.
type Interface struct {
	Type   string       `xml:"type,attr"`
	MAC    *MAC         `xml:"mac,omitempty"`
	Source *IfaceSource `xml:"source,omitempty"`
	Model  *IfaceModel  `xml:"model,omitempty"`
}

// MAC is <mac address>.
type MAC struct {
	Address string `xml:"address,attr"`
}

// IfaceSource is <interface><source bridge|network>.
type IfaceSource struct {
	Bridge  string `xml:"bridge,attr,omitempty"`
	Network string `xml:"network,attr,omitempty"`
}

// IfaceModel is <interface><model type>.
type IfaceModel struct {
	Type string `xml:"type,attr"`
}

// Chardev is <serial> or <console>.
type Chardev struct {
	Type   string         `xml:"type,attr"`
	Source *ChardevSource `xml:"source,omitempty"`
	Target *ChardevTarget `xml:"target,omitempty"`
}

// ChardevSource is <serial><source path>.
type ChardevSource struct {
	Path   string `xml:"path,attr,omitempty"`
	Append string `xml:"append,attr,omitempty"`
}

// ChardevTarget is <serial><target>.
type ChardevTarget struct {
	Type string `xml:"type,attr,omitempty"`
	Port *int   `xml:"port,attr,omitempty"`
}

// MemBalloon is <memballoon model>.
type MemBalloon struct {
	Model string `xml:"model,attr"`
}

// Namespace is the XML namespace of drover's domain metadata.
const Namespace = "https://drover-project.github.io/xmlns/domain/1"

// Metadata is <metadata>; drover keeps its own element in it.
type Metadata struct {
	Drover *DroverMeta `xml:"https://drover-project.github.io/xmlns/domain/1 instance,omitempty"`
}

// DroverMeta is what drover records in the domain beyond libvirt's schema.
type DroverMeta struct {
	// ConsoleLog is where the console is logged: by QEMU for VMs, by the
	// driver (a console stream it copies) for containers.
	ConsoleLog string `xml:"console-log,omitempty"`
}
