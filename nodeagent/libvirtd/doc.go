// Package libvirtd starts a private libvirtd (with its virtlogd) in its own
// mount namespace, with its own socket directory, state directories, TCP
// address and host UUID, so that several simulated nodes can share one host
// without seeing each other's domains. Tests and `drover local up` use it.
package libvirtd
