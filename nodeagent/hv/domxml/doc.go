// Package domxml turns an hv.DomainSpec into libvirt domain XML for each
// hypervisor kind (kvm/qemu, lxc, xen PV or HVM, openvz, test) and reads back
// the few fields drivers need from a defined domain's XML.
package domxml
