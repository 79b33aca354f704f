package api

import (
	"encoding/json"
	"time"
)

// ---- cluster ----

// MasterInfo describes one master process.
type MasterInfo struct {
	// Name of the master (also its etcd member name).
	Name string `json:"name"`
	// APIURL is the https URL its API answers on.
	APIURL string `json:"api_url"`
	// Leader is true for the master that currently holds the election.
	Leader bool `json:"leader"`
	// Healthy is false when the master's etcd member does not answer.
	Healthy bool `json:"healthy"`
}

// ClusterInfo is the answer of GET /api/v1/cluster.
type ClusterInfo struct {
	// Name of the cluster, set at init.
	Name string `json:"name"`
	// UUID of the cluster, set at init.
	UUID string `json:"uuid"`
	// CreatedAt is when the cluster was initialised.
	CreatedAt time.Time `json:"created_at"`
	// Leader is the name of the master that leads now ("" if none).
	Leader string `json:"leader"`
	// Epoch is the leader's fencing token (the create revision of its election
	// key). It grows with every change of leader.
	Epoch int64 `json:"epoch"`
	// Masters lists every master of the cluster.
	Masters []MasterInfo `json:"masters"`
	// AnsweredBy is the name of the master that served this request.
	AnsweredBy string `json:"answered_by"`
	// Version is the drover version of the answering master.
	Version string `json:"version"`
	// MACPrefix is the cluster's MAC prefix (3 octets, e.g. "aa:00:00").
	MACPrefix string `json:"mac_prefix"`
	// NodeLeaseTTL is the agents' lease TTL in seconds.
	NodeLeaseTTL int `json:"node_lease_ttl"`
	// ClusterIP is the floating address that moves with the leader
	// ("ADDR/PREFIX", "" for none) and ClusterIPDev the device it is
	// announced on (docs/ha.md, "Floating addresses").
	ClusterIP    string `json:"cluster_ip,omitempty"`
	ClusterIPDev string `json:"cluster_ip_dev,omitempty"`
	// PingTargets are the node groups' ping targets and UplinkMigrate whether
	// the leader migrates instances away from a node that lost its uplink
	// (docs/ha.md, "Connectivity").
	PingTargets   map[string][]string `json:"ping_targets,omitempty"`
	UplinkMigrate bool                `json:"uplink_migrate"`
	// Counts of nodes and jobs.
	NodeCount int `json:"node_count"`
	// JobsPending is the number of queued, waiting or running jobs.
	JobsPending int `json:"jobs_pending"`
}

// VerifyFinding is one problem found by cluster verify.
type VerifyFinding struct {
	// Severity is "error" or "warning".
	Severity string `json:"severity"`
	// Code is a stable identifier such as "ENODEUNREACHABLE".
	Code string `json:"code"`
	// Object is the kind and name the finding is about, e.g. "node/node1".
	Object string `json:"object"`
	// Message explains the finding.
	Message string `json:"message"`
}

// VerifyReport is the answer of POST /api/v1/cluster/verify.
type VerifyReport struct {
	// OK is true when there are no findings of severity "error".
	OK bool `json:"ok"`
	// Findings lists everything found.
	Findings []VerifyFinding `json:"findings"`
}

// ---- nodes ----

// Node status values.
const (
	NodeOnline      = "online"
	NodeUnreachable = "unreachable"
	NodeOffline     = "offline"
)

// NodeResources is what an agent observes on its host.
type NodeResources struct {
	MemoryTotalMiB int64 `json:"memory_total_mib"`
	MemoryFreeMiB  int64 `json:"memory_free_mib"`
	DiskTotalMiB   int64 `json:"disk_total_mib"`
	DiskFreeMiB    int64 `json:"disk_free_mib"`
	CPUs           int   `json:"cpus"`
}

// NodeAdd is the body of POST /api/v1/nodes (a job: node.add).
type NodeAdd struct {
	// Name is an RFC 1123 hostname, unique in the cluster.
	Name string `json:"name"`
	// PrimaryIP is the address the agent is reached on (optional).
	PrimaryIP string `json:"primary_ip,omitempty"`
	// SecondaryIP is the replication (DRBD) address (optional).
	SecondaryIP string `json:"secondary_ip,omitempty"`
	// MasterCapable defaults to true.
	MasterCapable *bool `json:"master_capable,omitempty"`
	// VMCapable defaults to true.
	VMCapable *bool `json:"vm_capable,omitempty"`
	// Group is the node group (default "default").
	Group string `json:"group,omitempty"`
	// Tags are free-form labels.
	Tags []string `json:"tags,omitempty"`
}

// NodeModify is the body of PATCH /api/v1/nodes/{name} (a job: node.modify).
// Nil fields are left unchanged.
type NodeModify struct {
	Drained       *bool   `json:"drained,omitempty"`
	Offline       *bool   `json:"offline,omitempty"`
	MasterCapable *bool   `json:"master_capable,omitempty"`
	VMCapable     *bool   `json:"vm_capable,omitempty"`
	SecondaryIP   *string `json:"secondary_ip,omitempty"`
}

// NodeRemove is the parameter of the node.remove opcode.
type NodeRemove struct {
	Name string `json:"name"`
}

// Node is a node as the API shows it: configuration plus observed state.
type Node struct {
	Name          string    `json:"name"`
	UUID          string    `json:"uuid"`
	PrimaryIP     string    `json:"primary_ip,omitempty"`
	SecondaryIP   string    `json:"secondary_ip,omitempty"`
	Group         string    `json:"group"`
	MasterCapable bool      `json:"master_capable"`
	VMCapable     bool      `json:"vm_capable"`
	Drained       bool      `json:"drained"`
	Offline       bool      `json:"offline"`
	Tags          []string  `json:"tags,omitempty"`
	AddedAt       time.Time `json:"added_at"`
	// Status is online, unreachable, suspect, fencing, fenced or offline
	// (read-only, derived; see NodeHealth).
	Status string `json:"status"`
	// NeedsOperator: drover cannot fence this node by itself (see Health).
	NeedsOperator bool `json:"needs_operator,omitempty"`
	// Fence is the node's fence device, secret parameters hidden.
	Fence *NodeFence `json:"fence,omitempty"`
	// Watchdog is the watchdog the agent reports armed ("" none).
	Watchdog string `json:"watchdog,omitempty"`
	// Uplink is the agent's view of its group's ping targets (nil: none
	// configured; docs/ha.md, "Connectivity").
	Uplink *UplinkStatus `json:"uplink,omitempty"`
	// Health is the liveness controller's record (node info only).
	Health *NodeHealth `json:"health,omitempty"`
	// Hypervisor is what the agent reports ("fake", "kvm", ...); "" if never seen.
	Hypervisor string `json:"hypervisor,omitempty"`
	// HypervisorOK is false when the agent reports its hypervisor as failed.
	HypervisorOK bool `json:"hypervisor_ok"`
	// HypervisorError is the agent's last failure reading its hypervisor.
	HypervisorError string `json:"hypervisor_error,omitempty"`
	// Resources as last reported by the agent; nil if never seen.
	Resources *NodeResources `json:"resources,omitempty"`
	// AgentVersion and AgentStartedAt as reported by the agent.
	AgentVersion   string     `json:"agent_version,omitempty"`
	AgentStartedAt *time.Time `json:"agent_started_at,omitempty"`
	// LastSeen is when the agent last published its status.
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// Storage is the node's volume group and DRBD as its agent reports them.
	Storage *NodeStorage `json:"storage,omitempty"`
	// DRBD lists the node's DRBD resources as its agent reads them from
	// events2 (node info only; nil in lists).
	DRBD []NodeDRBDResource `json:"drbd,omitempty"`
	// OSDefinitions are the Ganeti OS definitions the agent found.
	OSDefinitions []OSDefinition `json:"os_definitions,omitempty"`
}

// NodeDRBDResource is one DRBD resource on a node.
type NodeDRBDResource struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Minor int    `json:"minor"`
	Disk  string `json:"disk"`
	// Peers: connection name, connection state, role, disk and sync progress.
	Peers      []NodeDRBDPeer `json:"peers,omitempty"`
	SplitBrain bool           `json:"split_brain,omitempty"`
}

// NodeDRBDPeer is one connection of a NodeDRBDResource.
type NodeDRBDPeer struct {
	Name        string  `json:"name"`
	Connection  string  `json:"connection"`
	Role        string  `json:"role"`
	Disk        string  `json:"disk"`
	Replication string  `json:"replication"`
	SyncPercent float64 `json:"sync_percent"`
}

// NodeStorage is a node's storage for plain and drbd disks.
type NodeStorage struct {
	// DRBDVersion of the kernel module ("8.4.11", "9.3.3"); "" without DRBD.
	DRBDVersion string `json:"drbd_version,omitempty"`
	DRBDUtils   string `json:"drbd_utils,omitempty"`
	// VG is the LVM volume group with its size and free space.
	VG        string `json:"vg,omitempty"`
	VGSizeMiB int64  `json:"vg_size_mib"`
	VGFreeMiB int64  `json:"vg_free_mib"`
	Error     string `json:"error,omitempty"`
}

// NodeCredentials is what an agent needs to join: returned once by
// POST /api/v1/nodes/{name}/credentials (admin), which also rotates them.
type NodeCredentials struct {
	Node string `json:"node"`
	// EtcdEndpoints are the etcd client URLs of the masters.
	EtcdEndpoints []string `json:"etcd_endpoints"`
	// EtcdUser is the node's own etcd user (RBAC limited to its keys).
	EtcdUser string `json:"etcd_user"`
	// EtcdCert and EtcdKey (PEM) are the agent's TLS client certificate,
	// whose CN is EtcdUser, and its key: etcd authenticates the agent by it.
	EtcdCert string `json:"etcd_cert,omitempty"`
	EtcdKey  string `json:"etcd_key,omitempty"`
	// EtcdPassword is the etcd user's password, for an etcd that does not
	// authenticate clients by certificate (none for drover's own members).
	EtcdPassword string `json:"etcd_password,omitempty"`
	// CACert is the cluster CA (PEM) that signs the masters' certificates.
	CACert string `json:"ca_cert"`
	// APIURLs of the masters.
	APIURLs []string `json:"api_urls"`
	// LeaseTTL in seconds the agent must use.
	LeaseTTL int `json:"lease_ttl"`
	// APIToken is a bearer token of role node (subject "node.<name>") with
	// which the agent fetches templates from the API.
	APIToken string `json:"api_token,omitempty"`
}

// ---- jobs ----

// JobState values (Ganeti's).
type JobState string

const (
	JobQueued    JobState = "queued"
	JobWaiting   JobState = "waiting"
	JobRunning   JobState = "running"
	JobSuccess   JobState = "success"
	JobError     JobState = "error"
	JobCanceling JobState = "canceling"
	JobCanceled  JobState = "canceled"
)

// Finished reports whether s is a final state.
func (s JobState) Finished() bool {
	return s == JobSuccess || s == JobError || s == JobCanceled
}

// Opcode kinds known in this version. Params is the JSON of the named type.
const (
	OpNodeAdd    = "node.add"    // NodeAdd
	OpNodeRemove = "node.remove" // NodeRemove
	OpNodeModify = "node.modify" // NodeModifyOp
	OpDebugDelay = "debug.delay" // DebugDelay
)

// NodeModifyOp is the parameter of the node.modify opcode.
type NodeModifyOp struct {
	Name string `json:"name"`
	NodeModify
}

// DebugDelay is the parameter of the debug.delay opcode (gnt-debug delay): Steps
// timed steps that together last Duration; each completed step is checkpointed.
type DebugDelay struct {
	// Duration as a Go duration string ("8s").
	Duration string `json:"duration"`
	// Steps defaults to one per second of Duration (at least 1).
	Steps int `json:"steps,omitempty"`
	// Fail makes the last step fail with wrong_state (for tests).
	Fail bool `json:"fail,omitempty"`
}

// OpCode is one operation of a job.
type OpCode struct {
	// Kind is one of the Op* constants.
	Kind string `json:"kind"`
	// Params is the JSON of the kind's parameter type.
	Params json.RawMessage `json:"params,omitempty"`
}

// JobSubmit is the body of POST /api/v1/jobs.
type JobSubmit struct {
	Ops []OpCode `json:"ops"`
	// Priority from -20 (highest) to 19 (lowest), default 0, as Ganeti.
	Priority int `json:"priority,omitempty"`
}

// JobAccepted is the 202 answer to every change.
type JobAccepted struct {
	JobID uint64 `json:"job_id"`
}

// OpStatus is the progress of one opcode of a job.
type OpStatus struct {
	Kind string `json:"kind"`
	// State: queued, running, success, error, canceled.
	State JobState `json:"state"`
	// StepsDone counts the checkpointed steps of this opcode.
	StepsDone int `json:"steps_done"`
	// Result of the opcode (kind specific), set on success.
	Result json.RawMessage `json:"result,omitempty"`
}

// JobLogEntry is one line of a job's log.
type JobLogEntry struct {
	// Serial numbers entries from 1 within a job.
	Serial int       `json:"serial"`
	Time   time.Time `json:"time"`
	// Op is the index of the opcode that logged it (-1 for the job itself).
	Op int `json:"op"`
	// Level: info, warning, error.
	Level   string `json:"level"`
	Message string `json:"message"`
}

// Job is a job as stored and as the API shows it.
type Job struct {
	ID        uint64        `json:"id"`
	State     JobState      `json:"state"`
	Priority  int           `json:"priority"`
	Submitter string        `json:"submitter"`
	Ops       []OpCode      `json:"ops"`
	OpStatus  []OpStatus    `json:"op_status"`
	Log       []JobLogEntry `json:"log"`
	// Locks the job holds or waits for ("node/n1", "instance/web1", "cluster").
	Locks      []string   `json:"locks,omitempty"`
	ReceivedAt time.Time  `json:"received_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	// Result of the last opcode on success.
	Result json.RawMessage `json:"result,omitempty"`
	// Error on failure, with a stable code.
	Error *Error `json:"error,omitempty"`
	// CancelRequested is set by job cancel.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Epoch of the leader that last ran the job; Runs counts how many leaders
	// started or resumed it.
	Epoch int64 `json:"epoch,omitempty"`
	Runs  int   `json:"runs,omitempty"`
	// Archived is true when read from the archive.
	Archived bool `json:"archived,omitempty"`
}

// JobFilter selects jobs in list.
type JobFilter struct {
	// States to include (empty: all).
	States []JobState `json:"states,omitempty"`
	// Archived includes archived jobs.
	Archived bool `json:"archived,omitempty"`
	// Limit caps the number returned (newest first); 0 means no cap.
	Limit int `json:"limit,omitempty"`
}

// ---- users and tokens ----

// Roles.
const (
	RoleRead    = "read"
	RoleOperate = "operate"
	RoleAdmin   = "admin"
	// RoleNode is for agents; it grants nothing on the REST API today.
	RoleNode = "node"
)

// UserAdd is the body of POST /api/v1/users.
type UserAdd struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// User as the API shows it.
type User struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// TokenRequest is the body of POST /api/v1/users/{name}/tokens.
type TokenRequest struct {
	// TTL as a Go duration ("24h"); default 24h, at most 8760h.
	TTL string `json:"ttl,omitempty"`
}

// Token is a signed bearer token (the secret is shown once).
type Token struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
	// Token is the compact JWT; set only in the answer that issued it.
	Token string `json:"token,omitempty"`
	// Revoked is true once revoked.
	Revoked bool `json:"revoked,omitempty"`
}

// ---- health ----

// Health is the answer of GET /api/v1/health (no authentication needed).
type Health struct {
	// Master is the name of the master that answered.
	Master string `json:"master"`
}
