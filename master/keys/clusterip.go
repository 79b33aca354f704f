package keys

// ClusterIPHolderKey names the master that may hold the cluster IP: the
// leader writes it, bound to its election session's lease and fenced by its
// epoch, before it takes the address, and deletes it after it gave the
// address up. A next leader takes the address only once the key is gone,
// that is once the previous holder gave it up or its session ended (docs/ha.md,
// "Floating addresses").
const ClusterIPHolderKey = KeyPrefix + "clusterip/holder"

// ClusterIPHolder is the value at ClusterIPHolderKey.
type ClusterIPHolder struct {
	Master string `json:"master"`
	Epoch  int64  `json:"epoch"`
	// Address is the cluster IP as held ("ADDR/PREFIX").
	Address string `json:"address"`
}
