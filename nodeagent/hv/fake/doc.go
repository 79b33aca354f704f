// Package fake is an in-process hypervisor with real behaviour (a state
// machine, resource accounting, console logs, lifecycle events, the same
// errors as the libvirt driver) for the zero-dependency local cluster and for
// tests of the node agent.
package fake
