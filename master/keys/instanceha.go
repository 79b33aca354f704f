package keys

import "github.com/drover-project/drover/api"

// InstanceHAPrefix holds one InstanceHARecord per instance that has one
// (leader only), keyed by the instance's UUID: a rename keeps it, a new
// instance of an old name does not inherit it.
const InstanceHAPrefix = KeyPrefix + "instanceha/"

// InstanceHAKey is the HA record of the instance with this UUID.
func InstanceHAKey(uuid string) string { return InstanceHAPrefix + uuid }

// MaxHAEvents is how many events an InstanceHARecord keeps.
const MaxHAEvents = 20

// InstanceHARecord is what the leader records about an instance's failures
// and failovers: the failure counts per node that migration_threshold
// compares with (instance cleanup clears them) and the last events. Written
// under the leadership fence.
type InstanceHARecord struct {
	// Instance is the instance's name when the record was last written.
	Instance string `json:"instance"`
	api.InstanceHAState
}
