package keys

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/drover-project/drover/api"
)

// Instance keys. The leader writes InstanceRecords (desired state) and
// NodeCommands; agents write NodeCommandResults and DomainStatus under their
// own lease-bound state prefix.
const (
	// InstancesPrefix holds one InstanceRecord per instance.
	InstancesPrefix = KeyPrefix + "instances/"
	// TemplatesPrefix holds one TemplateRecord per template version.
	TemplatesPrefix = KeyPrefix + "templates/"
	// MACSeqKey holds the last MAC suffix handed out (decimal, CAS).
	MACSeqKey = KeyPrefix + "macseq"
)

// InstanceKey is the record of instance name.
func InstanceKey(name string) string { return InstancesPrefix + name }

// TemplateKey is the record of template name at version.
func TemplateKey(name string, version int) string {
	return fmt.Sprintf("%s%s/%010d", TemplatesPrefix, name, version)
}

// NodeCommandKey is where the leader writes command id for node.
func NodeCommandKey(node, id string) string { return NodeCmdPrefix(node) + id }

// NodeResultKey is where node's agent writes the result of command id (bound to
// the agent's lease).
func NodeResultKey(node, id string) string { return NodeStatePrefix(node) + "results/" + id }

// NodeDomainKey is where node's agent publishes the observed state of the
// domain of instance (bound to the agent's lease).
func NodeDomainKey(node, instance string) string {
	return NodeStatePrefix(node) + "domains/" + instance
}

// DiskSpec is one disk of an instance.
type DiskSpec struct {
	// SizeMiB is the disk's size.
	SizeMiB int64 `json:"size_mib"`
	// DRBD is the mirror of a drbd disk (additive; nil for other templates).
	DRBD *DRBDDisk `json:"drbd,omitempty"`
}

// NICSpec is one network interface of an instance.
type NICSpec struct {
	// MAC is allocated by the master from the cluster MAC prefix.
	MAC string `json:"mac"`
	// Link is the bridge (kvm, xen, lxc) the NIC is attached to; "" for none.
	Link string `json:"link,omitempty"`
}

// InstanceRecord is an instance's configuration and desired state at
// InstanceKey; written by the leader only.
type InstanceRecord struct {
	Name         string     `json:"name"`
	UUID         string     `json:"uuid"`
	PrimaryNode  string     `json:"primary_node"`
	OS           string     `json:"os"`            // template name
	OSVersion    int        `json:"os_version"`    // template version installed
	OSDigest     string     `json:"os_digest"`     // sha256 of the template artifact
	Hypervisor   string     `json:"hypervisor"`    // kvm, lxc, xen, openvz, test, fake
	DiskTemplate string     `json:"disk_template"` // file, diskless, plain, drbd
	Disks        []DiskSpec `json:"disks,omitempty"`
	NICs         []NICSpec  `json:"nics,omitempty"`
	VCPUs        int        `json:"vcpus"`
	MemoryMiB    int64      `json:"memory_mib"`
	SSHKeys      []string   `json:"ssh_keys,omitempty"`
	// AdminUp is the desired run state (Ganeti's admin_state up/down).
	AdminUp   bool      `json:"admin_up"`
	CreatedAt time.Time `json:"created_at"`
	// Restarts counts automatic restarts since the last admin action; the
	// watcher gives up after MaxAutoRestarts (status ERROR_down).
	Restarts int `json:"restarts,omitempty"`
	// GaveUp is set when the watcher stopped restarting the instance.
	GaveUp bool `json:"gave_up,omitempty"`
	// CreatingJob is the id of the instance.add job while the instance is
	// being created (additive): such records are not listed, not restarted,
	// and removed again when the add fails.
	CreatingJob uint64 `json:"creating_job,omitempty"`
	// Tags are free-form labels (tags.modify; additive).
	Tags []string `json:"tags,omitempty"`
	// OSParams are the parameters of a Ganeti OS definition (-O; OSP_*),
	// for instances whose OS is one (OS set, OSDigest empty; additive).
	OSParams map[string]string `json:"os_params,omitempty"`
	// DisksDown is set by deactivate-disks (plain, drbd; additive): the
	// leader does not bring the disks back up by itself.
	DisksDown bool `json:"disks_down,omitempty"`
	// ServiceIP is the instance's floating service address
	// "ADDR/PREFIX@DEV" (additive): the agent of the node whose domain of
	// the instance runs puts it on host device DEV (nodeagent/serviceip.go).
	ServiceIP string `json:"service_ip,omitempty"`
	// InstanceHA are the HA properties (-B ha_priority=, ...; additive;
	// docs/ha.md).
	api.InstanceHA
}

// MaxAutoRestarts is how often the watcher restarts an instance that should run
// but died, before it reports ERROR_down (Ganeti's watcher tries 5 times).
const MaxAutoRestarts = 5

// TemplateRecord is a template version registered with the cluster.
type TemplateRecord struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Digest is the sha256 of the artifact (hex); agents fetch by digest.
	Digest string `json:"digest"`
	// Manifest is the templates package's manifest JSON.
	Manifest json.RawMessage `json:"manifest"`
	// Master is the master whose store holds the artifact.
	Master    string    `json:"master"`
	CreatedAt time.Time `json:"created_at"`
}

// Node command kinds: each is idempotent on the agent (running it twice has
// the effect of running it once).
const (
	CmdInstanceCreate    = "instance.create"   // create disks, install OS, define domain
	CmdInstanceStart     = "instance.start"    // start the domain (no-op if running)
	CmdInstanceShutdown  = "instance.shutdown" // graceful shutdown with timeout, then destroy
	CmdInstanceReboot    = "instance.reboot"
	CmdInstanceRemove    = "instance.remove" // destroy, undefine, delete disks
	CmdInstanceReinstall = "instance.reinstall"
	CmdInstanceGrowDisk  = "instance.grow-disk"
	CmdInstanceModify    = "instance.modify" // redefine with new vcpus/memory (stopped)
	CmdInstanceRename    = "instance.rename" // Params: {"new_name": ...}
	// CmdInstanceConsole returns the end of the serial console log as Output
	// (ConsoleOutput); Params: ConsoleParams. Read-only. (Additive.)
	CmdInstanceConsole = "instance.console"
)

// NodeCommand is a command of the leader to one agent, at NodeCommandKey. The
// agent refuses commands older than the highest epoch it has seen.
type NodeCommand struct {
	// ID is unique per job step and instance:
	// "<job id>-<op>-<step>-<instance uuid>" (see docs/jobs.md).
	ID string `json:"id"`
	// JobID is the job the command belongs to (0: the leader's own work,
	// such as the watcher's cleanups). The leader deletes a command when its
	// job gives up on it; an agent runs only commands that are still there.
	JobID uint64 `json:"job_id,omitempty"`
	// Step is the job step (with its opcode index) that wrote the command.
	Step string `json:"step,omitempty"`
	// Epoch of the leader that wrote it.
	Epoch int64 `json:"epoch"`
	// Kind is one of the Cmd* constants.
	Kind string `json:"kind"`
	// Instance is the instance as the leader sees it when writing the command.
	Instance InstanceRecord `json:"instance"`
	// Params holds kind-specific parameters (shutdown timeout, disk index and
	// amount, new name...).
	Params json.RawMessage `json:"params,omitempty"`
	// Template tells the agent where to fetch the OS template: the master API
	// URLs and the digest (create, reinstall).
	TemplateDigest string   `json:"template_digest,omitempty"`
	TemplateURLs   []string `json:"template_urls,omitempty"`
	// NoInstall (create) defines the instance on its disks without
	// installing anything onto them: neither a template nor a Ganeti OS
	// definition runs (instance add --no-install, the define on the new
	// primary after a failover, whose disks hold the instance's data).
	NoInstall bool      `json:"no_install,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// NodeCommandResult is the agent's answer at NodeResultKey.
type NodeCommandResult struct {
	ID    string `json:"id"`
	Epoch int64  `json:"epoch"`
	// Done is false while the command runs (Progress says how far it is).
	Done     bool            `json:"done"`
	Progress string          `json:"progress,omitempty"`
	Error    *api.Error      `json:"error,omitempty"`
	Output   json.RawMessage `json:"output,omitempty"`
	// Refused is set when the agent did not run the command because its
	// epoch is older than the current leader's: a newer leader that writes
	// the same command again is not answered by this result.
	Refused bool      `json:"refused,omitempty"`
	At      time.Time `json:"at"`
}

// DomainStatus is what an agent observes of an instance's domain.
type DomainStatus struct {
	Instance string `json:"instance"`
	// State: running, stopped, paused, crashed, missing.
	State string `json:"state"`
	// UUID of the domain on the node, or of the instance files when there is
	// no domain ("" when unknown): an instance record with another UUID does
	// not own them (they are an orphan).
	UUID       string    `json:"uuid,omitempty"`
	ObservedAt time.Time `json:"observed_at"`
}

// ConsoleParams are the Params of CmdInstanceConsole (additive).
type ConsoleParams struct {
	// MaxBytes of the log's end to return (default 16 KiB).
	MaxBytes int `json:"max_bytes,omitempty"`
}

// ConsoleOutput is the Output of CmdInstanceConsole (additive).
type ConsoleOutput struct {
	// Text is the end of the console log.
	Text string `json:"text"`
}
