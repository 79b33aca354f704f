// Package sim runs many simulated nodes in one process: each a real node
// agent (package nodeagent) with its own credentials, etcd clients and lease,
// driving the fake hypervisor, so that masters see what real agents publish.
package sim
