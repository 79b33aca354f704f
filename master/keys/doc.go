// Package keys is the etcd key layout of drover (prefix /drover/v1/) and the JSON
// records stored there that more than one process reads: the master, the node
// agent and tests all build their keys here.
package keys
