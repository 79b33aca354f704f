package api

// OpInstanceMigrate moves a running instance to another node (params
// InstanceMigrate); docs/migration.md.
const OpInstanceMigrate = "instance.migrate"

// Migration modes.
const (
	// MigrateModeLive copies memory (and unmirrored disks) while the guest
	// runs: a pause of milliseconds at the end.
	MigrateModeLive = "live"
	// MigrateModeHibernate saves the guest's state to a file, moves the
	// primary and restores it on the target (the guest is paused meanwhile).
	MigrateModeHibernate = "hibernate"
)

// MaxMigrateBandwidthMiB bounds MigrateOptions.BandwidthMiB.
const MaxMigrateBandwidthMiB = 1 << 20

// MigrateOptions is the body of POST /instances/{name}/migrate.
type MigrateOptions struct {
	// TargetNode is where the instance goes. drbd: its secondary (the
	// default); file and plain: default the node with most free memory.
	TargetNode string `json:"target_node,omitempty"`
	// Mode is live (default) or hibernate.
	Mode string `json:"mode,omitempty"`
	// Cleanup resolves an interrupted or failed migration instead of
	// migrating: the node where the domain runs becomes (or stays) the
	// primary, the other side is cleaned, one DRBD primary is left.
	Cleanup bool `json:"cleanup,omitempty"`
	// BandwidthMiB limits the migration stream in MiB/s (0: unlimited).
	BandwidthMiB uint64 `json:"bandwidth_mib,omitempty"`
}

// InstanceMigrate is the params of instance.migrate.
type InstanceMigrate struct {
	Name string `json:"name"`
	MigrateOptions
}

// Validate checks the name, the mode and the options that go together.
func (p InstanceMigrate) Validate() error {
	if err := validInstanceName(p.Name); err != nil {
		return err
	}
	switch p.Mode {
	case "", MigrateModeLive, MigrateModeHibernate:
	default:
		return Errorf(CodeWrongInput, "migration mode %s is not live or hibernate", quoteShort(p.Mode))
	}
	if p.TargetNode != "" {
		if err := ValidHostname(p.TargetNode); err != nil {
			return Errorf(CodeWrongInput, "target node: %s", AsError(err).Message)
		}
	}
	if p.Cleanup && (p.TargetNode != "" || p.Mode != "" || p.BandwidthMiB != 0) {
		return Errorf(CodeWrongInput, "cleanup takes no target node, mode or bandwidth")
	}
	if p.BandwidthMiB > MaxMigrateBandwidthMiB {
		return Errorf(CodeWrongInput, "bandwidth %d MiB/s over %d", p.BandwidthMiB, MaxMigrateBandwidthMiB)
	}
	return nil
}

// MigrateResult is the result of an instance.migrate job.
type MigrateResult struct {
	Instance string `json:"instance"`
	Source   string `json:"source"`
	Target   string `json:"target"`
	Mode     string `json:"mode"`
	// TotalMs, DowntimeMs and the bytes are libvirt's completed job info of
	// a live migration (zero otherwise).
	TotalMs     int64  `json:"total_ms,omitempty"`
	DowntimeMs  int64  `json:"downtime_ms,omitempty"`
	DataBytes   uint64 `json:"data_bytes,omitempty"`
	MemoryBytes uint64 `json:"memory_bytes,omitempty"`
	DiskBytes   uint64 `json:"disk_bytes,omitempty"`
	// LastAck is the workload's last acknowledged record on the source
	// (workload instances).
	LastAck uint64 `json:"last_ack,omitempty"`
	// Seconds is the hypervisor part (source's command to running on the
	// target), as the master saw it.
	Seconds float64 `json:"seconds,omitempty"`
}
