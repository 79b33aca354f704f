// Package libvirt drives kvm (qemu), lxc, xen, openvz and libvirt's test
// hypervisor through libvirtd with github.com/digitalocean/go-libvirt. Every
// call runs under a deadline; a daemon that does not answer in time is
// declared down (hv.ErrHypervisorDown), its connection closed, and the driver
// reconnects with back-off and resubscribes to lifecycle events.
package libvirt
