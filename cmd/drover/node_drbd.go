package main

import (
	"fmt"
	"io"

	"github.com/drover-project/drover/api"
)

// printNodeDRBD prints a node's DRBD resources for node info.
func printNodeDRBD(w io.Writer, res []api.NodeDRBDResource) {
	if len(res) == 0 {
		return
	}
	fmt.Fprintln(w, "  DRBD resources:")
	for _, r := range res {
		sb := ""
		if r.SplitBrain {
			sb = " SPLIT-BRAIN"
		}
		fmt.Fprintf(w, "    %s: minor %d, %s, disk %s%s\n", r.Name, r.Minor, r.Role, r.Disk, sb)
		for _, p := range r.Peers {
			fmt.Fprintf(w, "      peer %s: %s, %s, disk %s, %s, %.1f%% in sync\n", p.Name, p.Connection, p.Role, p.Disk, p.Replication, p.SyncPercent)
		}
	}
}
