package keys

import (
	"strings"
	"time"

	"github.com/drover-project/drover/api"
)

// NodeStatus is what a node agent publishes at NodeStatusKey, bound to its
// lease, and republishes every few seconds.
type NodeStatus struct {
	// Hypervisor is the driver name ("fake", "kvm", ...).
	Hypervisor string `json:"hypervisor"`
	// HypervisorOK is false when the driver reports a failure.
	HypervisorOK bool `json:"hypervisor_ok"`
	// HypervisorError is the last failure reading the hypervisor ("" none);
	// it may be set while HypervisorOK is still true (a transient failure).
	HypervisorError string `json:"hypervisor_error,omitempty"`
	// Resources observed on the host.
	Resources api.NodeResources `json:"resources"`
	// Bridges are the host's network bridges, the links a NIC may name;
	// BridgesReported is false for hypervisors that attach no NIC to a
	// host bridge (fake, test) and for agents that predate it: then links
	// are not checked.
	Bridges         []string `json:"bridges,omitempty"`
	BridgesReported bool     `json:"bridges_reported,omitempty"`
	// AgentVersion is the drover version of the agent.
	AgentVersion string `json:"agent_version"`
	// StartedAt is when the agent process started.
	StartedAt time.Time `json:"started_at"`
	// PublishedAt is when this record was written.
	PublishedAt time.Time `json:"published_at"`
	// Storage is the node's LVM volume group and DRBD (nil: file disks only).
	Storage *NodeStorage `json:"storage,omitempty"`
	// Watchdog is the watchdog the agent armed (nil: none). The master
	// trusts a node's self-fencing (waits out LeaseTiming.Grace instead of
	// fencing it) only when its agent reported one.
	Watchdog *WatchdogStatus `json:"watchdog,omitempty"`
	// OSDefinitions are the Ganeti OS definitions on the agent's search
	// path (additive; docs/templates.md).
	OSDefinitions []api.OSDefinition `json:"os_definitions,omitempty"`
	// Uplink is the outcome of the agent's pings of its group's ping
	// targets (nil: no targets; additive).
	Uplink *api.UplinkStatus `json:"uplink,omitempty"`
}

// WatchdogStatus describes an armed watchdog.
type WatchdogStatus struct {
	// Device is the watchdog's path (/dev/watchdog).
	Device string `json:"device"`
	// TimeoutSec is the timeout the device accepted; 0 if it did not say.
	TimeoutSec int `json:"timeout_sec"`
}

// NodeRecord is the configuration of a node at NodeKey; written by the leader
// only. The agent of the node may read its own record.
type NodeRecord struct {
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
}

// MasterSpec is one master as configured at cluster init.
type MasterSpec struct {
	Name string `json:"name"`
	// IP is the address the master's API and etcd listen on.
	IP         string `json:"ip"`
	APIPort    int    `json:"api_port"`
	ClientPort int    `json:"etcd_client_port"`
	PeerPort   int    `json:"etcd_peer_port"`
}

// ClusterRecord is the cluster record at ClusterKey (also the body of
// cluster.json); every etcd user may read it.
type ClusterRecord struct {
	Name      string       `json:"name"`
	UUID      string       `json:"uuid"`
	CreatedAt time.Time    `json:"created_at"`
	MACPrefix string       `json:"mac_prefix"`
	Masters   []MasterSpec `json:"masters"`
	// NodeLeaseTTL is the agents' lease TTL in seconds.
	NodeLeaseTTL int `json:"node_lease_ttl"`
	// VCPURatio bounds the virtual CPUs of a node's primaries by its
	// physical CPUs times this (0: the default, 4 as in Ganeti's ipolicy).
	VCPURatio float64 `json:"vcpu_ratio,omitempty"`
	// ClusterIP is the floating address the leader holds, "ADDR/PREFIX"
	// (IPv4; "" for none), announced on device ClusterIPDev of the
	// leader's host (docs/ha.md, "Floating addresses"; additive).
	ClusterIP    string `json:"cluster_ip,omitempty"`
	ClusterIPDev string `json:"cluster_ip_dev,omitempty"`
	// PingTargets are the addresses each node group's agents ping to judge
	// their uplink, by group (docs/ha.md, "Connectivity"; additive).
	PingTargets map[string][]string `json:"ping_targets,omitempty"`
	// UplinkMigrateOff stops the leader from migrating instances away from
	// a node that lost its uplink (on by default).
	UplinkMigrateOff bool `json:"uplink_migrate_off,omitempty"`
}

// ClusterIPAddr is the cluster IP without its prefix ("" for none).
func (r ClusterRecord) ClusterIPAddr() string {
	a, _, _ := strings.Cut(r.ClusterIP, "/")
	return a
}

// MasterRecord is a running master's registration at MasterKey, bound to its
// session lease.
type MasterRecord struct {
	Name      string    `json:"name"`
	APIURL    string    `json:"api_url"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
}

// UserRecord is an API user at UserKey.
type UserRecord struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	// PasswordHash is the bcrypt hash of the user's RAPI password ("" for
	// none); never shown by the API.
	PasswordHash string `json:"password_hash,omitempty"`
}

// TokenRecord is the metadata of an issued token at TokenKey (never the token
// itself).
type TokenRecord struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Role      string    `json:"role"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Revoked   bool      `json:"revoked,omitempty"`
}
