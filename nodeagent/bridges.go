package nodeagent

import (
	"os"
	"path/filepath"
	"sort"
)

// sysClassNet is where Linux lists network interfaces.
var sysClassNet = "/sys/class/net"

// hostBridges lists the bridges of this host (the links a NIC may name), for
// the node status; reported is false for the hypervisors that attach no NIC
// to a host bridge (fake, test), whose links are then not checked.
func hostBridges(hypervisor string) (bridges []string, reported bool) {
	switch hypervisor {
	case "fake", "test":
		return nil, false
	}
	ents, err := os.ReadDir(sysClassNet)
	if err != nil {
		return nil, false
	}
	for _, e := range ents {
		if st, err := os.Stat(filepath.Join(sysClassNet, e.Name(), "bridge")); err == nil && st.IsDir() {
			bridges = append(bridges, e.Name())
		}
	}
	sort.Strings(bridges)
	return bridges, true
}
