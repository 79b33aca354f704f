package keys

import "time"

// DRBD and LVM records. Agents publish DRBDState at NodeDRBDKey (bound to
// their lease) and NodeStorage inside NodeStatus; the leader records a
// mirrored disk's DRBDDisk inside the instance's DiskSpec.

// NodeDRBDKey is where node's agent publishes its DRBDState.
func NodeDRBDKey(node string) string { return NodeStatePrefix(node) + "drbd" }

// NodeStorage is what a node offers for plain and drbd disks.
type NodeStorage struct {
	// DRBDVersion is the kernel module's version ("8.4.11", "9.3.3"); ""
	// when no DRBD module is loaded.
	DRBDVersion string `json:"drbd_version,omitempty"`
	// DRBDUtils is drbd-utils' version ("9.22.0").
	DRBDUtils string `json:"drbd_utils,omitempty"`
	// VG is the LVM volume group for plain and drbd disks ("" = none).
	VG        string `json:"vg,omitempty"`
	VGSizeMiB int64  `json:"vg_size_mib,omitempty"`
	VGFreeMiB int64  `json:"vg_free_mib,omitempty"`
	// Error says why the storage could not be read.
	Error string `json:"error,omitempty"`
}

// DRBDState is every DRBD resource a node's kernel knows, as read from
// `drbdsetup events2`.
type DRBDState struct {
	Version    string         `json:"version,omitempty"`
	Resources  []DRBDResource `json:"resources"`
	ObservedAt time.Time      `json:"observed_at"`
}

// DRBDResource is one resource's local state (one volume: drover makes
// one resource per disk).
type DRBDResource struct {
	Name string `json:"name"`
	// Role: Primary, Secondary, Unknown.
	Role  string `json:"role"`
	Minor int    `json:"minor"`
	// Disk: Diskless, Attaching, Inconsistent, Outdated, Consistent,
	// UpToDate, Failed...
	Disk    string     `json:"disk"`
	SizeKiB int64      `json:"size_kib,omitempty"`
	Peers   []DRBDPeer `json:"peers,omitempty"`
	// SplitBrain is set once events2 reported a split-brain helper call.
	SplitBrain bool `json:"split_brain,omitempty"`
}

// DRBDPeer is the state of one connection of a resource.
type DRBDPeer struct {
	// Name is the connection name (DRBD 9: the peer's host name; 8.4:
	// "peer").
	Name   string `json:"name"`
	NodeID int    `json:"node_id"`
	// Connection: StandAlone, Connecting, Connected...
	Connection string `json:"connection"`
	Role       string `json:"role,omitempty"`
	// Replication: Off, Established, SyncSource, SyncTarget, ...
	Replication string `json:"replication,omitempty"`
	PeerDisk    string `json:"peer_disk,omitempty"`
	// OutOfSyncKiB is what still differs; SyncPercent is the resync's
	// progress (100 when in sync).
	OutOfSyncKiB int64   `json:"out_of_sync_kib"`
	SyncPercent  float64 `json:"sync_percent"`
}

// DRBDDisk is the DRBD part of a mirrored disk, allocated by the leader and
// recorded in the instance's DiskSpec.
type DRBDDisk struct {
	// Resource is the DRBD resource name (unique in the cluster).
	Resource string `json:"resource"`
	// Port is the cluster-wide TCP port of the resource.
	Port int `json:"port"`
	// Secret is the shared secret of the peers' HMAC authentication.
	Secret string `json:"secret"`
	// Nodes are the peers, primary first.
	Nodes []DRBDNode `json:"nodes"`
	// Leaving are peers being replaced (replace-disks): they still hold a
	// copy (and their minors) until the new peer in Nodes is UpToDate.
	Leaving []DRBDNode `json:"leaving,omitempty"`
}

// DRBDNode is one peer of a DRBDDisk.
type DRBDNode struct {
	Node string `json:"node"`
	// IP is the node's replication (secondary) address.
	IP    string `json:"ip"`
	Minor int    `json:"minor"`
	// NodeID is the DRBD 9 node-id (0, 1, 2...).
	NodeID int `json:"node_id"`
}

// Disk command kinds (node-side storage of plain and drbd disks). Params:
// DiskParams.
const (
	// CmdDiskCreate makes the LV of disk Params.Disk and, for drbd, the
	// resource (file, metadata when the LV is new, adjust); with
	// Params.Primary it promotes this node, forcing only the first sync
	// of a new disk.
	CmdDiskCreate    = "disk.create"
	CmdDiskPrimary   = "disk.primary"   // promote (forced only with Params.Force)
	CmdDiskSecondary = "disk.secondary" // demote
	CmdDiskRemove    = "disk.remove"    // down, remove the resource file and the LV
	CmdDiskResize    = "disk.resize"    // grow the LV to the record's size, then drbdadm resize
	// CmdDiskAdjust rewrites the resource file from the record and runs
	// drbdadm adjust: connects what is StandAlone, adds DRBD 9 peers the
	// record names, deletes connections it no longer names; then forgets
	// Params.Forget (docs/drbd.md, "Replacing a secondary").
	CmdDiskAdjust = "disk.adjust"
	// CmdDiskDisconnect disconnects the resource and keeps its disk
	// attached (the old secondary of a DRBD 8.4 replace-disks).
	CmdDiskDisconnect = "disk.disconnect"
	// CmdDiskDiscard resolves a split brain on its victim: secondary,
	// disconnect, connect --discard-my-data (never sent automatically).
	CmdDiskDiscard = "disk.discard-my-data"
	// CmdDiskDeactivate takes a drbd disk's resource down (drbdadm down;
	// the resource file, metadata and LV stay: disk.create brings it up
	// again). A plain disk's LV stays active.
	CmdDiskDeactivate = "disk.deactivate"
)

// DiskParams are the Params of the Cmd Disk* kinds.
type DiskParams struct {
	Disk int `json:"disk"`
	// Primary (disk.create): promote this node once the resource is up.
	Primary bool `json:"primary,omitempty"`
	// InitialSync (disk.create with Primary): the disk is new on both
	// sides; promotion may force (primary --force) while both are
	// Inconsistent.
	InitialSync bool `json:"initial_sync,omitempty"`
	// Forget (disk.adjust, DRBD 9) are node-ids of peers the record no
	// longer names: once their connections are gone, their bitmap slots
	// are freed (drbdsetup forget-peer), so a later peer fits again.
	Forget []int `json:"forget,omitempty"`
	// Reconnect (disk.adjust) disconnects first, so that a changed peer
	// takes effect (DRBD 8.4, which has one peer).
	Reconnect bool `json:"reconnect,omitempty"`
	// Force (disk.primary): promote although the local disk is not
	// UpToDate (failover --ignore-consistency with the old primary
	// offline or fenced).
	Force bool `json:"force,omitempty"`
	// PeerFenced (disk.primary): the peer is dead for certain (fenced or
	// marked offline). A connection that still counts it as primary (DRBD
	// 8.4 sees a powered-off peer only at its next ping, up to 10 s) is
	// dropped (disconnect --force) before the promotion and connected
	// again after it (the resource waits for the peer's return).
	// disk.disconnect with PeerFenced does only the drop and the connect,
	// never a promotion: the leader sends it while a node whose fence
	// device said off is being fenced (docs/ha.md "The fast path").
	PeerFenced bool `json:"peer_fenced,omitempty"`
}

// DiskOutput is the Output of CmdDiskCreate.
type DiskOutput struct {
	// Device is the block device of the disk on this node (/dev/drbdN or
	// /dev/mapper/VG-LV).
	Device string `json:"device"`
}
