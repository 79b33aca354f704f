package master

import (
	"context"
	"slices"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// Which nodes hold the disks of a plain or drbd instance. A plain disk is a
// logical volume on the primary; a drbd disk is one on each node its
// keys.DRBDDisk names (the primary and its secondary; a third during a
// replace-disks on DRBD 9). The record has no separate secondary field: the
// DRBD records are the truth, so that nothing can disagree with them.

// isBlockTemplate reports whether t keeps disks in the nodes' volume groups.
func isBlockTemplate(t string) bool {
	return t == api.DiskTemplatePlain || t == api.DiskTemplateDRBD
}

// diskNodes are the nodes holding rec's disks, the primary first.
func diskNodes(rec *keys.InstanceRecord) []string {
	out := []string{rec.PrimaryNode}
	for _, d := range rec.Disks {
		if d.DRBD == nil {
			continue
		}
		for _, n := range d.DRBD.Nodes {
			if !slices.Contains(out, n.Node) {
				out = append(out, n.Node)
			}
		}
	}
	return out
}

// secondaryNodes are the DRBD peers of rec's primary (none for other
// templates).
func secondaryNodes(rec *keys.InstanceRecord) []string {
	if rec.DiskTemplate != api.DiskTemplateDRBD {
		return nil
	}
	return diskNodes(rec)[1:]
}

// drbdSecondary is the secondary of a drbd instance ("" when none).
func drbdSecondary(rec *keys.InstanceRecord) string {
	if s := secondaryNodes(rec); len(s) > 0 {
		return s[0]
	}
	return ""
}

// minorOn is the DRBD minor of disk d on node (-1 when not a peer).
func minorOn(d *keys.DRBDDisk, node string) int {
	if d == nil {
		return -1
	}
	for _, n := range d.Nodes {
		if n.Node == node {
			return n.Minor
		}
	}
	return -1
}

// replicationIP is a node's DRBD address: its secondary IP, else its
// primary IP.
func (m *Master) replicationIP(ctx context.Context, node string) (string, error) {
	rec, err := m.nodeRecord(ctx, node)
	if err != nil {
		return "", err
	}
	if rec.SecondaryIP != "" {
		return rec.SecondaryIP, nil
	}
	return rec.PrimaryIP, nil
}

// checkBlockNode checks that node can hold disks of template tmpl: a volume
// group with sizeMiB free and, for drbd, a DRBD module. st is its status.
func checkBlockNode(node, tmpl string, st *keys.NodeStatus, sizeMiB int64) error {
	s := st.Storage
	switch {
	case s == nil || s.VG == "":
		return api.Errorf(api.CodeWrongState, "node %s has no volume group for %s disks (agent without --lvm-vg)", node, tmpl)
	case s.Error != "":
		return api.Errorf(api.CodeWrongState, "node %s cannot read its volume group %s: %s", node, s.VG, s.Error)
	case tmpl == api.DiskTemplateDRBD && s.DRBDVersion == "":
		return api.Errorf(api.CodeWrongState, "node %s has no DRBD module loaded", node)
	case s.VGFreeMiB < sizeMiB:
		return api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB free in volume group %s, the disks need %d", node, s.VGFreeMiB, s.VG, sizeMiB)
	}
	return nil
}
