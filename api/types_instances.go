package api

import (
	"fmt"
	"strings"
	"time"
)

// Instance opcode kinds (params type in the comment). Each is a job.
const (
	OpInstanceAdd       = "instance.add"       // InstanceAdd
	OpInstanceRemove    = "instance.remove"    // InstanceName
	OpInstanceStartup   = "instance.startup"   // InstanceStartup
	OpInstanceShutdown  = "instance.shutdown"  // InstanceShutdown
	OpInstanceReboot    = "instance.reboot"    // InstanceName
	OpInstanceReinstall = "instance.reinstall" // InstanceReinstall
	OpInstanceRename    = "instance.rename"    // InstanceRename
	OpInstanceGrowDisk  = "instance.grow-disk" // InstanceGrowDisk
	OpInstanceModify    = "instance.modify"    // InstanceModifyOp
)

// Instance status values (Ganeti's): derived from the desired state, the
// domain state the primary node's agent reports and the node's status.
const (
	InstRunning          = "running"           // should run and runs
	InstAdminDown        = "ADMIN_down"        // stopped by an admin
	InstErrorDown        = "ERROR_down"        // should run, does not
	InstErrorUp          = "ERROR_up"          // should be down, runs
	InstErrorNodeDown    = "ERROR_nodedown"    // primary node unreachable
	InstErrorNodeOffline = "ERROR_nodeoffline" // primary node marked offline
)

// Disk templates offered now: plain (LVM) and drbd (LVM mirrored by DRBD
// on two nodes) need nodes with a volume group (agent --lvm-vg).
const (
	DiskTemplateFile     = "file"
	DiskTemplateDiskless = "diskless"
	DiskTemplatePlain    = "plain"
	DiskTemplateDRBD     = "drbd"
)

// Limits of instance parameters.
const (
	MaxInstanceVCPUs     = 256
	MinInstanceMemoryMiB = 32
	MaxInstanceMemoryMiB = 4 << 20 // 4 TiB
	MaxInstanceDisks     = 16
	MinInstanceDiskMiB   = 8        // the smallest ext4 with a journal; disk 0 must also hold the template
	MaxInstanceDiskMiB   = 64 << 20 // 64 TiB
	MaxInstanceNICs      = 8
)

// InstanceNIC is one network interface: the MAC is given out by the master
// from the cluster's MAC prefix; Link is the bridge ("" for none).
type InstanceNIC struct {
	MAC  string `json:"mac,omitempty"`
	Link string `json:"link,omitempty"`
}

// InstanceDisk is one disk of an instance.
type InstanceDisk struct {
	SizeMiB int64 `json:"size_mib"`
}

// InstanceAdd is the body of POST /instances and the params of instance.add.
type InstanceAdd struct {
	// Name is the instance's name, a hostname unique in the cluster.
	Name string `json:"name"`
	// DiskTemplate is file, diskless, plain or drbd.
	DiskTemplate string `json:"disk_template"`
	// OS is the template: "name" (latest version) or "name@version"; or a
	// Ganeti OS definition on the node: "name+variant" (docs/templates.md).
	OS string `json:"os"`
	// OSParams are a Ganeti OS definition's parameters (-O name=value).
	OSParams map[string]string `json:"os_params,omitempty"`
	// Node is the primary node; empty lets the allocator choose.
	Node string `json:"node,omitempty"`
	// SecondaryNode is the DRBD peer of a drbd instance (-n P:S); empty
	// with Node empty lets the allocator choose both.
	SecondaryNode string `json:"secondary_node,omitempty"`
	// NoWaitForSync (drbd): do not wait for the first sync of the disks.
	NoWaitForSync bool `json:"no_wait_for_sync,omitempty"`
	// NoInstall creates the disks without installing the template onto
	// them (Ganeti's --no-install); the record names the template.
	NoInstall bool `json:"no_install,omitempty"`
	// Disks are the disks' sizes (diskless has none).
	Disks []InstanceDisk `json:"disks,omitempty"`
	// NICs: the MAC of each is allocated by the master (leave it empty).
	NICs []InstanceNIC `json:"nics,omitempty"`
	// VCPUs and MemoryMiB are the backend parameters (-B vcpus=,memory=).
	VCPUs     int   `json:"vcpus"`
	MemoryMiB int64 `json:"memory_mib"`
	// Hypervisor must match the node's; empty means the node's.
	Hypervisor string `json:"hypervisor,omitempty"`
	// SSHKeys are root's authorized keys in the guest.
	SSHKeys []string `json:"ssh_keys,omitempty"`
	// NoStart leaves the instance defined but stopped (ADMIN_down).
	NoStart bool `json:"no_start,omitempty"`
	// InstanceHA are the HA properties (-B ha_priority=, ...).
	InstanceHA
}

// InstanceName is the params of opcodes that need only the instance name.
type InstanceName struct {
	Name string `json:"name"`
}

// InstanceStartup is the params of instance.startup.
type InstanceStartup struct {
	Name string `json:"name"`
	// Auto marks a restart by the watcher: it counts towards the restart
	// limit instead of resetting it. Not offered on the REST API.
	Auto bool `json:"auto,omitempty"`
}

// ShutdownOptions is the body of POST /instances/{name}/shutdown.
type ShutdownOptions struct {
	// Timeout is how long the guest gets to power off before it is destroyed
	// (Go duration, default 2m).
	Timeout string `json:"timeout,omitempty"`
}

// InstanceShutdown is the params of instance.shutdown.
type InstanceShutdown struct {
	Name string `json:"name"`
	ShutdownOptions
}

// ReinstallOptions is the body of POST /instances/{name}/reinstall.
type ReinstallOptions struct {
	// OS is another template to install; empty reinstalls the same template
	// (its latest version).
	OS string `json:"os,omitempty"`
}

// InstanceReinstall is the params of instance.reinstall.
type InstanceReinstall struct {
	Name string `json:"name"`
	ReinstallOptions
}

// RenameOptions is the body of POST /instances/{name}/rename.
type RenameOptions struct {
	NewName string `json:"new_name"`
}

// InstanceRename is the params of instance.rename.
type InstanceRename struct {
	Name string `json:"name"`
	RenameOptions
}

// GrowDiskOptions is the body of POST /instances/{name}/grow-disk.
type GrowDiskOptions struct {
	// Disk is the disk's index (0-based).
	Disk int `json:"disk"`
	// AmountMiB is added to the disk's size.
	AmountMiB int64 `json:"amount_mib"`
}

// InstanceGrowDisk is the params of instance.grow-disk.
type InstanceGrowDisk struct {
	Name string `json:"name"`
	GrowDiskOptions
}

// InstanceModify is the body of PATCH /instances/{name}: backend parameters.
// A running instance gets them at its next start.
type InstanceModify struct {
	VCPUs     *int   `json:"vcpus,omitempty"`
	MemoryMiB *int64 `json:"memory_mib,omitempty"`
	// ServiceIP is the instance's floating service address
	// "ADDR/PREFIX@DEV" (-B service_ip=; "" removes it): the node that
	// runs the instance holds it on host device DEV (docs/ha.md,
	// "Floating addresses").
	ServiceIP *string `json:"service_ip,omitempty"`
	// InstanceHAModify: the HA properties to change.
	InstanceHAModify
}

// InstanceModifyOp is the params of instance.modify.
type InstanceModifyOp struct {
	Name string `json:"name"`
	InstanceModify
}

// Instance is an instance as GET /instances shows it: its configuration, its
// desired state and what its primary node observes.
type Instance struct {
	Name        string `json:"name"`
	UUID        string `json:"uuid"`
	PrimaryNode string `json:"primary_node"`
	// SecondaryNodes are the DRBD peers of a drbd instance's primary.
	SecondaryNodes []string       `json:"secondary_nodes,omitempty"`
	OS             string         `json:"os"`
	OSVersion      int            `json:"os_version"`
	Hypervisor     string         `json:"hypervisor"`
	DiskTemplate   string         `json:"disk_template"`
	Disks          []InstanceDisk `json:"disks,omitempty"`
	NICs           []InstanceNIC  `json:"nics,omitempty"`
	VCPUs          int            `json:"vcpus"`
	MemoryMiB      int64          `json:"memory_mib"`
	// AdminState is the desired state: up or down.
	AdminState string `json:"admin_state"`
	// Status is one of the Inst* values.
	Status string `json:"status"`
	// OperState is the domain state the agent reports (running, stopped,
	// paused, crashed, missing; "" when nothing is reported).
	OperState string `json:"oper_state,omitempty"`
	// ObservedAt is when the agent published the state it reports (it
	// publishes a domain's state when the state changes, not periodically).
	ObservedAt *time.Time `json:"observed_at,omitempty"`
	// Restarts counts the watcher's restarts since the last admin action;
	// GaveUp is set when it stopped trying.
	Restarts  int       `json:"restarts"`
	GaveUp    bool      `json:"gave_up"`
	CreatedAt time.Time `json:"created_at"`
	// Tags are free-form labels (tags.modify).
	Tags []string `json:"tags,omitempty"`
	// ServiceIP is the floating service address "ADDR/PREFIX@DEV" that
	// the node running the instance holds ("" for none).
	ServiceIP string `json:"service_ip,omitempty"`
	// DRBD is, per disk of a drbd instance, its allocation and the state
	// its nodes publish (GET /instances/{name} only).
	DRBD []InstanceDRBDDisk `json:"drbd,omitempty"`
	// DisksActive is false after deactivate-disks (plain and drbd).
	DisksActive *bool `json:"disks_active,omitempty"`
	// Redundancy of a drbd instance, from the DRBD state its nodes
	// publish: ok (every disk UpToDate on both nodes, connected),
	// "syncing N%" (a resync runs), degraded (a node down, a resource
	// not up or not connected, a split brain, a disk being replaced).
	Redundancy string `json:"redundancy,omitempty"`
	// InstanceHA are the HA properties (docs/ha.md).
	InstanceHA
	// HA is what the leader recorded of its failures and failovers
	// (GET /instances/{name} only).
	HA *InstanceHAState `json:"ha,omitempty"`
}

// InstanceConsole is the answer of GET /instances/{name}/console: the tail
// of the instance's serial console log.
type InstanceConsole struct {
	Instance string `json:"instance"`
	Node     string `json:"node"`
	// Output is the console text (at most the asked number of bytes).
	Output string `json:"output"`
}

// DefaultConsoleBytes and MaxConsoleBytes bound GET /instances/{name}/console.
const (
	DefaultConsoleBytes = 16 << 10
	MaxConsoleBytes     = 256 << 10
)

// validTemplateRef checks "name" or "name@version" (template names are
// lower-case words of letters, digits, ".", "_" and "-", at most 63 long).
func validTemplateRef(ref string) error {
	name, ver, hasVer := cutLast(ref, '@')
	if !ValidTemplateName(name) {
		return Errorf(CodeWrongInput, "template %s: not a valid template name", quoteShort(ref))
	}
	if hasVer {
		n := 0
		for _, ch := range ver {
			if ch < '0' || ch > '9' || n > 1e8 {
				return Errorf(CodeWrongInput, "template %s: bad version", quoteShort(ref))
			}
			n = n*10 + int(ch-'0')
		}
		if n <= 0 {
			return Errorf(CodeWrongInput, "template %s: bad version", quoteShort(ref))
		}
	}
	return nil
}

func cutLast(s string, sep byte) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// ValidTemplateName reports whether s can name a template (the rule of the
// templates package: ^[a-z0-9][a-z0-9._-]{0,62}$).
func ValidTemplateName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i, ch := range s {
		ok := ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9'
		if i > 0 {
			ok = ok || ch == '.' || ch == '_' || ch == '-'
		}
		if !ok {
			return false
		}
	}
	return true
}

func validInstanceName(name string) error { return ValidInstanceName(name) }

// Validate checks an InstanceAdd without looking at the cluster.
func (a InstanceAdd) Validate() error {
	if err := validInstanceName(a.Name); err != nil {
		return err
	}
	if err := validOSRef(a.OS, a.OSParams); err != nil {
		return err
	}
	if a.Node != "" {
		if err := ValidHostname(a.Node); err != nil {
			return fmt.Errorf("node: %w", err)
		}
	}
	if err := a.validateTemplate(); err != nil {
		return err
	}
	if len(a.Disks) > MaxInstanceDisks {
		return Errorf(CodeWrongInput, "at most %d disks", MaxInstanceDisks)
	}
	for i, d := range a.Disks {
		if d.SizeMiB < MinInstanceDiskMiB || d.SizeMiB > MaxInstanceDiskMiB {
			return Errorf(CodeWrongInput, "disk %d: size %d MiB not in %d..%d", i, d.SizeMiB, MinInstanceDiskMiB, MaxInstanceDiskMiB)
		}
	}
	if len(a.NICs) > MaxInstanceNICs {
		return Errorf(CodeWrongInput, "at most %d NICs", MaxInstanceNICs)
	}
	for i, n := range a.NICs {
		if n.MAC != "" {
			return Errorf(CodeWrongInput, "nic %d: the master gives out MACs; leave mac empty", i)
		}
		if n.Link != "" {
			if err := validLink(n.Link); err != nil {
				return fmt.Errorf("nic %d: %w", i, err)
			}
		}
	}
	if err := validBE(a.VCPUs, a.MemoryMiB); err != nil {
		return err
	}
	if err := a.InstanceHA.validate(); err != nil {
		return err
	}
	switch a.Hypervisor {
	case "", "kvm", "lxc", "xen", "openvz", "test", "fake", "workload":
	default:
		return Errorf(CodeWrongInput, "hypervisor %s unknown (kvm, lxc, xen, openvz, test, fake, workload)", quoteShort(a.Hypervisor))
	}
	for i, k := range a.SSHKeys {
		if k == "" || len(k) > 16<<10 || strings.ContainsAny(k, "\n\r") {
			return Errorf(CodeWrongInput, "ssh key %d: want one line of at most 16 KiB", i)
		}
	}
	return nil
}

func validBE(vcpus int, mem int64) error {
	if vcpus < 1 || vcpus > MaxInstanceVCPUs {
		return Errorf(CodeWrongInput, "vcpus %d not in 1..%d", vcpus, MaxInstanceVCPUs)
	}
	if mem < MinInstanceMemoryMiB || mem > MaxInstanceMemoryMiB {
		return Errorf(CodeWrongInput, "memory %d MiB not in %d..%d", mem, MinInstanceMemoryMiB, MaxInstanceMemoryMiB)
	}
	return nil
}

// validLink accepts a Linux interface name (1..15 characters, no "/" or space).
func validLink(l string) error {
	if len(l) > 15 || strings.ContainsAny(l, "/ \t\n:") || l == "." || l == ".." {
		return Errorf(CodeWrongInput, "link %s is not an interface name", quoteShort(l))
	}
	return nil
}

// Validate checks the instance name.
func (n InstanceName) Validate() error { return validInstanceName(n.Name) }

// Validate checks the instance name.
func (n InstanceStartup) Validate() error { return validInstanceName(n.Name) }

// ParseTimeout returns the shutdown timeout (default 2m, at most 1h).
func (o ShutdownOptions) ParseTimeout() (time.Duration, error) {
	if o.Timeout == "" {
		return 2 * time.Minute, nil
	}
	d, err := time.ParseDuration(o.Timeout)
	if err != nil || d < 0 || d > time.Hour {
		return 0, Errorf(CodeWrongInput, "timeout %s: want a Go duration in 0..1h", quoteShort(o.Timeout))
	}
	return d, nil
}

// Validate checks name and timeout.
func (s InstanceShutdown) Validate() error {
	if err := validInstanceName(s.Name); err != nil {
		return err
	}
	_, err := s.ParseTimeout()
	return err
}

// Validate checks name and template.
func (r InstanceReinstall) Validate() error {
	if err := validInstanceName(r.Name); err != nil {
		return err
	}
	if r.OS != "" {
		return validOSRef(r.OS, nil)
	}
	return nil
}

// Validate checks both names.
func (r InstanceRename) Validate() error {
	if err := validInstanceName(r.Name); err != nil {
		return err
	}
	if err := ValidInstanceName(r.NewName); err != nil {
		return fmt.Errorf("new name: %w", err)
	}
	if r.NewName == r.Name {
		return Errorf(CodeWrongInput, "new name is the old name")
	}
	return nil
}

// Validate checks name, disk index and amount.
func (g InstanceGrowDisk) Validate() error {
	if err := validInstanceName(g.Name); err != nil {
		return err
	}
	if g.Disk < 0 || g.Disk >= MaxInstanceDisks {
		return Errorf(CodeWrongInput, "disk index %d not in 0..%d", g.Disk, MaxInstanceDisks-1)
	}
	if g.AmountMiB < 1 || g.AmountMiB > MaxInstanceDiskMiB {
		return Errorf(CodeWrongInput, "amount %d MiB not in 1..%d", g.AmountMiB, MaxInstanceDiskMiB)
	}
	return nil
}

// Validate checks name and the new parameters.
func (m InstanceModifyOp) Validate() error {
	if err := validInstanceName(m.Name); err != nil {
		return err
	}
	if m.VCPUs == nil && m.MemoryMiB == nil && m.ServiceIP == nil && m.InstanceHAModify.empty() {
		return Errorf(CodeWrongInput, "instance modify without changes")
	}
	if m.ServiceIP != nil && *m.ServiceIP != "" {
		if _, err := ParseServiceIP(*m.ServiceIP); err != nil {
			return err
		}
	}
	if err := m.InstanceHAModify.validate(); err != nil {
		return err
	}
	v, mem := 1, int64(MinInstanceMemoryMiB)
	if m.VCPUs != nil {
		v = *m.VCPUs
	}
	if m.MemoryMiB != nil {
		mem = *m.MemoryMiB
	}
	return validBE(v, mem)
}
