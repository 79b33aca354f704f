// Package hv defines the hypervisor driver interface the node agent uses to run
// domains (VMs and containers), the domain specification it passes to drivers,
// and the sentinel errors every driver returns. Implementations live in
// subpackages (fake, libvirt); hvtest holds the conformance suite they all pass.
package hv
