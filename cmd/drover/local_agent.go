package main

// localAgent is what `local up` starts one node agent with.
type localAgent struct {
	CredFile, Hypervisor, StorageDir, MetricsListen string
	// LibvirtURI is the node's private libvirtd ("" with the fake hypervisor).
	LibvirtURI string
	// GuestPidDirs are where that libvirtd keeps its guests' pid files, seen
	// from the host (inside its own mount namespace): without them
	// self-fencing would look in the host's /run/libvirt and find no guest
	// to kill when the hypervisor hangs.
	GuestPidDirs []string
	// MigrationURI and MigrationAddress are how other nodes' libvirtds
	// reach this node's for live migration (kvm only).
	MigrationURI, MigrationAddress string
}

// args is the agent's command line. Several agents share this machine (and
// a watchdog would reset it): local agents arm none.
func (a localAgent) args() []string {
	args := []string{"agent", "--credentials", a.CredFile, "--hypervisor", a.Hypervisor,
		"--storage-dir", a.StorageDir, "--watchdog", "none", "--metrics-listen", a.MetricsListen}
	if a.LibvirtURI != "" {
		args = append(args, "--libvirt-uri", a.LibvirtURI)
	}
	if a.MigrationURI != "" {
		args = append(args, "--migration-uri", a.MigrationURI, "--migration-address", a.MigrationAddress)
	}
	for _, d := range a.GuestPidDirs {
		args = append(args, "--guest-pid-dir", d)
	}
	return args
}
