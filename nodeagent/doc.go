// Package nodeagent is the daemon on every hypervisor host: it holds the node's
// etcd lease, publishes what it observes under keys bound to that lease, and
// drives the hypervisor (subpackage hv) and storage for the master.
package nodeagent
