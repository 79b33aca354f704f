package keys

import (
	"time"

	"github.com/drover-project/drover/api"
)

// Prefixes of the liveness controller's and the fence devices' records.
const (
	// NodeHealthPrefix holds one NodeHealthRecord per node (leader only).
	NodeHealthPrefix = KeyPrefix + "nodehealth/"
	// NodeFencePrefix holds one api.NodeFence per node with a fence device
	// (root only: no agent's role covers it, it holds the BMC's password).
	NodeFencePrefix = KeyPrefix + "nodefence/"
)

// NodeHealthKey is the liveness record of node name.
func NodeHealthKey(name string) string { return NodeHealthPrefix + name }

// NodeFenceKey is the fence device of node name.
func NodeFenceKey(name string) string { return NodeFencePrefix + name }

// NodeHealthRecord is the leader's liveness record of a node: the state
// shown by node list and node info, and what a next leader needs to carry on.
type NodeHealthRecord struct {
	api.NodeHealth
	// LeaseLostAt is when the leader saw the node's lease expire.
	LeaseLostAt time.Time `json:"lease_lost_at,omitzero"`
	// Watchdog: the node's last status before that reported an armed
	// watchdog (its self-fence may be trusted after Grace).
	Watchdog bool `json:"watchdog,omitempty"`
}

// MaxTransitions is how many state changes a NodeHealthRecord keeps.
const MaxTransitions = 20

// SuspectAfter is how long the leader waits after a node's lease expired
// before it calls the node suspect and starts fencing it: long enough for an
// agent whose lease was revoked early (an etcd leader that resumes after a
// freeze) to notice at its next renewal and publish under a new lease.
func (t LeaseTiming) SuspectAfter() time.Duration { return t.Renew + t.Attempt }
