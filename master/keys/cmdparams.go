package keys

// Parameters of NodeCommands (NodeCommand.Params) and their outputs
// (NodeCommandResult.Output). Additive to the contract in instances.go: the
// agent decodes them leniently (unknown fields are ignored, every field is
// optional).

// ShutdownParams are the Params of CmdInstanceShutdown.
type ShutdownParams struct {
	// TimeoutSeconds the guest gets to power off before it is destroyed
	// (default 120, as gnt-instance shutdown).
	TimeoutSeconds int `json:"timeout_s,omitempty"`
}

// RebootParams are the Params of CmdInstanceReboot.
type RebootParams struct {
	// Hard reboots by destroy and start instead of asking the guest.
	Hard bool `json:"hard,omitempty"`
}

// RemoveParams are the Params of CmdInstanceRemove.
type RemoveParams struct {
	// ShutdownTimeoutSeconds, when > 0, first asks the guest to shut down
	// for this long; default 0: destroy at once (Ganeti's remove).
	ShutdownTimeoutSeconds int `json:"shutdown_timeout_s,omitempty"`
}

// GrowDiskParams are the Params of CmdInstanceGrowDisk. The agent grows disk
// Disk to SizeMiB when set, else to Instance.Disks[Disk].SizeMiB+AmountMiB
// (the record as it was before the grow), so a re-run does not grow twice.
type GrowDiskParams struct {
	Disk      int   `json:"disk"`
	AmountMiB int64 `json:"amount_mib,omitempty"`
	SizeMiB   int64 `json:"size_mib,omitempty"`
}

// RenameParams are the Params of CmdInstanceRename; Instance.Name is the
// old name.
type RenameParams struct {
	NewName string `json:"new_name"`
}

// CreateOutput is the Output of CmdInstanceCreate and CmdInstanceReinstall.
type CreateOutput struct {
	// Disks are the paths of the instance's disks on the node.
	Disks []string `json:"disks,omitempty"`
	// RootDir of a container.
	RootDir string `json:"root_dir,omitempty"`
	// Kernel and Initrd for direct boot, when the template had one.
	Kernel string `json:"kernel,omitempty"`
	Initrd string `json:"initrd,omitempty"`
	// InstallSeconds is how long the OS install took.
	InstallSeconds float64 `json:"install_seconds,omitempty"`
	// MachineID written to the instance.
	MachineID string `json:"machine_id,omitempty"`
}

// Domain states of DomainStatus.State.
const (
	DomainRunning = "running"
	DomainStopped = "stopped"
	DomainPaused  = "paused"
	DomainCrashed = "crashed"
	DomainMissing = "missing"
)
