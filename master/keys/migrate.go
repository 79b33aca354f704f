package keys

// Migration of an instance between two nodes (docs/migration.md). The
// leader runs the steps as node commands; every one is idempotent.
const (
	// CmdInstanceMigratePrepare (on the target) makes what the incoming
	// domain needs there: the instance's directory and owner file, disks of
	// the same sizes (file: made as a create would, from the template when
	// the instance has one, so a direct-boot kernel is there too; plain: the
	// LVs; drbd: the devices exist already) and answers MigrateTarget.
	CmdInstanceMigratePrepare = "instance.migrate-prepare"
	// CmdInstanceMigrate (on the source) moves the running domain to the
	// target named by MigrateParams: a libvirt peer-to-peer live migration
	// (with storage copy for file and plain), a save to a file (hibernate),
	// or for the workload driver a stop that records its last
	// acknowledgement. Output: MigrateSourceOutput.
	CmdInstanceMigrate = "instance.migrate"
	// CmdInstanceMigrateFinish (on the target) makes sure the domain runs
	// there: it resumes a live-migrated domain (left paused by the
	// migration), restores a hibernated one, or starts a workload; Output:
	// MigrateFinishOutput.
	CmdInstanceMigrateFinish = "instance.migrate-finish"
	// CmdInstanceMigrateForget (on a node that is not, or no longer, the
	// instance's primary) removes what a migration left there: a stopped or
	// paused domain of the instance (a running one is refused, wrong_state)
	// and, for file and plain, its disks. DRBD devices are kept (the node
	// stays the secondary). With MigrateForgetParams.Running a running
	// domain is destroyed too (the master saw the primary's copy run).
	CmdInstanceMigrateForget = "instance.migrate-forget"
	// CmdInstanceMigrateSettle (on the source, after CmdInstanceMigrate
	// failed) waits until the hypervisor runs no job on the domain (a
	// migration still under way, a restarted libvirtd's recovery of one)
	// and answers what is left of it there: MigrateSettleOutput. The master
	// keeps the source's copy when it is active (running or paused) and
	// resumes the target's, which a live migration leaves paused, only
	// when it is not.
	CmdInstanceMigrateSettle = "instance.migrate-settle"
	// CmdDiskDualPrimary switches allow-two-primaries of a drbd disk's
	// resource on or off (DiskParams.Disk, DualPrimaryParams.Allow).
	CmdDiskDualPrimary = "disk.dual-primary"
)

// Migration modes (MigrateParams.Mode).
const (
	MigrateLive      = "live"
	MigrateHibernate = "hibernate"
)

// MigratePrepareParams are the Params of CmdInstanceMigratePrepare.
type MigratePrepareParams struct {
	Mode string `json:"mode,omitempty"`
}

// MigrateTarget is the Output of CmdInstanceMigratePrepare: where the
// source sends the domain, and the target's paths of its files.
type MigrateTarget struct {
	// URI is the target's libvirtd as the source's libvirtd reaches it
	// (qemu+tcp://ADDR:PORT/system); "" for drivers that migrate without
	// libvirt (workload).
	URI string `json:"uri,omitempty"`
	// Address is the target's address for QEMU's migration and NBD streams.
	Address string `json:"address,omitempty"`
	// Disks, ConsoleLog, Kernel, Initrd are the domain's paths on the
	// target ("" where there is none).
	Disks      []string `json:"disks,omitempty"`
	ConsoleLog string   `json:"console_log,omitempty"`
	Kernel     string   `json:"kernel,omitempty"`
	Initrd     string   `json:"initrd,omitempty"`
	// StateFile is where a hibernated domain's state is written (hibernate).
	StateFile string `json:"state_file,omitempty"`
}

// MigrateParams are the Params of CmdInstanceMigrate and
// CmdInstanceMigrateFinish.
type MigrateParams struct {
	Mode   string        `json:"mode,omitempty"`
	Target MigrateTarget `json:"target"`
	// Source is the source's paths (finish of a hibernate: the saved
	// definition names them).
	Source MigrateTarget `json:"source,omitempty"`
	// BandwidthMiB limits the migration stream (0: unlimited).
	BandwidthMiB uint64 `json:"bandwidth_mib,omitempty"`
}

// MigrateSourceOutput is the Output of CmdInstanceMigrate.
type MigrateSourceOutput struct {
	// Paths are the source's paths (for a hibernate's restore).
	Source MigrateTarget `json:"source"`
	// LastAck is a stopped workload's last acknowledged record.
	LastAck uint64 `json:"last_ack,omitempty"`
	// Seconds is how long the source's part took.
	Seconds float64 `json:"seconds"`
}

// MigrateFinishOutput is the Output of CmdInstanceMigrateFinish: the
// figures of libvirt's completed job (live migration), zero otherwise.
type MigrateFinishOutput struct {
	TotalMs     int64  `json:"total_ms,omitempty"`
	DowntimeMs  int64  `json:"downtime_ms,omitempty"`
	DataBytes   uint64 `json:"data_bytes,omitempty"`
	MemoryBytes uint64 `json:"memory_bytes,omitempty"`
	DiskBytes   uint64 `json:"disk_bytes,omitempty"`
	// State is the domain's state on the target afterwards.
	State string `json:"state"`
}

// DualPrimaryParams are the Params of CmdDiskDualPrimary.
type DualPrimaryParams struct {
	Disk  int  `json:"disk"`
	Allow bool `json:"allow"`
}

// MigrateSettleOutput is the Output of CmdInstanceMigrateSettle.
type MigrateSettleOutput struct {
	// State of the instance's domain on the node (DomainRunning,
	// DomainPaused, DomainStopped, ...; DomainMissing when there is none).
	State string `json:"state"`
	// Active: the domain exists and its process runs (running or paused).
	Active bool `json:"active"`
}

// MigrateForgetParams are the params of CmdInstanceMigrateForget (none: a
// running domain is refused).
type MigrateForgetParams struct {
	// Running: destroy the domain even when it runs. The master sets it
	// only when the instance's recorded primary reports its own copy
	// running: a second running copy (a migration whose source libvirtd
	// was killed, which resumed the source after the target had taken
	// over) must go at once.
	Running bool `json:"running,omitempty"`
}
