package keys

import "time"

// DRBDOutdatedPrefix holds one DRBDOutdatedRecord per (instance, secondary
// node) whose copy may be stale (leader only), keyed by the instance's UUID
// and the node: DRBD's "outdate the peer", kept by the master.
const DRBDOutdatedPrefix = KeyPrefix + "drbdoutdated/"

// DRBDOutdatedKey is the record of the instance with this UUID's copy on
// node.
func DRBDOutdatedKey(uuid, node string) string { return DRBDOutdatedPrefix + uuid + "/" + node }

// DRBDOutdatedRecord says that the instance's primary was seen Primary and
// not connected to node, so the primary may have written what node does not
// have: node's copy is not a failover target until the primary sees it
// connected and UpToDate again (docs/drbd.md, "A secondary that fell
// behind"). Written under the leadership fence by the drbd-outdate
// controller, which also removes it.
type DRBDOutdatedRecord struct {
	Instance string `json:"instance"`
	// Node is the secondary whose copy may be stale; Primary is the node
	// that was seen writing without it.
	Node    string `json:"node"`
	Primary string `json:"primary"`
	// Resources are the DRBD resources seen disconnected, with their
	// connection state as the primary reported it ("w1-d0 Connecting").
	Resources []string `json:"resources"`
	// Since is when the leader first saw it (the primary's observed_at).
	Since time.Time `json:"since"`
}
