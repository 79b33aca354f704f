// Package hvtest is the conformance suite every hv.Driver passes (Run), and
// the helpers the suite's real-hypervisor runs need: a private libvirtd per
// test, a guest kernel with a busybox initramfs, a busybox container rootfs.
package hvtest
