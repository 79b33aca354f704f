package api

import "fmt"

// Opcodes of mirrored (drbd) and LVM (plain) instances.
const (
	OpInstanceFailover        = "instance.failover"         // InstanceFailover
	OpInstanceActivateDisks   = "instance.activate-disks"   // InstanceActivateDisks
	OpInstanceDeactivateDisks = "instance.deactivate-disks" // InstanceName
)

// InstanceDRBDDisk is one disk of a drbd instance as instance info shows
// it: what the master allocated and what each node's agent publishes.
type InstanceDRBDDisk struct {
	Disk     int                `json:"disk"`
	Resource string             `json:"resource"`
	Port     int                `json:"port"`
	Nodes    []InstanceDRBDNode `json:"nodes"`
}

// InstanceDRBDNode is one side of a DRBD disk. The state fields are empty
// when the node publishes nothing for the resource (unreachable, or the
// resource is down there).
type InstanceDRBDNode struct {
	Node  string `json:"node"`
	Minor int    `json:"minor"`
	// Role: Primary, Secondary ("" when not reported).
	Role        string  `json:"role,omitempty"`
	Disk        string  `json:"disk,omitempty"`
	PeerDisk    string  `json:"peer_disk,omitempty"`
	Connection  string  `json:"connection,omitempty"`
	Replication string  `json:"replication,omitempty"`
	SyncPercent float64 `json:"sync_percent,omitempty"`
	SplitBrain  bool    `json:"split_brain,omitempty"`
}

// FailoverOptions is the body of POST /instances/{name}/failover.
type FailoverOptions struct {
	// IgnoreConsistency promotes the secondary even when its disk is not
	// UpToDate (forced promotion). Accepted only when the old primary is
	// marked offline: with a live primary the sync must finish first.
	IgnoreConsistency bool `json:"ignore_consistency,omitempty"`
	// ShutdownTimeout is how long the guest gets to power off on the old
	// primary (Go duration, default 2m).
	ShutdownTimeout string `json:"shutdown_timeout,omitempty"`
}

// InstanceFailover is the params of instance.failover.
type InstanceFailover struct {
	Name string `json:"name"`
	FailoverOptions
}

// Validate checks the name and the timeout.
func (f InstanceFailover) Validate() error {
	if err := validInstanceName(f.Name); err != nil {
		return err
	}
	_, err := ShutdownOptions{Timeout: f.ShutdownTimeout}.ParseTimeout()
	return err
}

// InstanceActivateDisks is the params of instance.activate-disks.
type InstanceActivateDisks struct {
	Name string `json:"name"`
	// Rejoin only brings the disks up as secondary on nodes that lack
	// them (what the leader does for a node that came back); nothing is
	// promoted. Not offered on the REST API.
	Rejoin bool `json:"rejoin,omitempty"`
}

// Validate checks the name.
func (a InstanceActivateDisks) Validate() error { return validInstanceName(a.Name) }

// validateTemplate checks the disk template and the nodes it needs.
func (a InstanceAdd) validateTemplate() error {
	switch a.DiskTemplate {
	case DiskTemplateFile, DiskTemplatePlain, DiskTemplateDRBD:
		if len(a.Disks) == 0 {
			return Errorf(CodeWrongInput, "disk template %s needs at least one disk", a.DiskTemplate)
		}
	case DiskTemplateDiskless:
		if len(a.Disks) != 0 {
			return Errorf(CodeWrongInput, "disk template diskless takes no disks")
		}
	case "":
		return Errorf(CodeWrongInput, "disk template missing (file, diskless, plain or drbd)")
	default:
		return Errorf(CodeWrongInput, "disk template %s not supported (file, diskless, plain or drbd)", quoteShort(a.DiskTemplate))
	}
	if a.SecondaryNode != "" {
		if a.DiskTemplate != DiskTemplateDRBD {
			return Errorf(CodeWrongInput, "a secondary node is only for disk template drbd (not %s)", a.DiskTemplate)
		}
		if err := ValidHostname(a.SecondaryNode); err != nil {
			return fmt.Errorf("secondary node: %w", err)
		}
		if a.Node == "" {
			return Errorf(CodeWrongInput, "a secondary node needs the primary too (-n PRIMARY:SECONDARY)")
		}
		if a.SecondaryNode == a.Node {
			return Errorf(CodeWrongInput, "primary and secondary are both %s: the DRBD peers must be different nodes", a.Node)
		}
	}
	if a.DiskTemplate == DiskTemplateDRBD && a.Node != "" && a.SecondaryNode == "" {
		return Errorf(CodeWrongInput, "disk template drbd needs two nodes: -n PRIMARY:SECONDARY (or neither, for the allocator)")
	}
	if a.NoWaitForSync && a.DiskTemplate != DiskTemplateDRBD {
		return Errorf(CodeWrongInput, "no_wait_for_sync is only for disk template drbd")
	}
	return nil
}
