package master

import (
	"slices"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// Replacing the secondary of a drbd instance (replace-disks -n, node
// evacuate): the record first names the new secondary in Nodes and the old
// one in Leaving (it still holds a copy and its minor), then, once the new
// copy is UpToDate and the old one removed, Leaving is cleared. Both writes
// are fenced txns; a re-run finds the record in one of the two states and
// continues. See docs/drbd.md, "Replacing a secondary".

// planNewSecondary returns rec with every disk's secondary moved to node
// (replication address ip): the lowest free minor there and, for DRBD 9, the
// lowest node-id unused by the disk's peers. changed is false when rec
// already is in that state (a re-run). recs are all instance records, for
// the minors taken.
func planNewSecondary(recs []keys.InstanceRecord, rec keys.InstanceRecord, node, ip string) (out keys.InstanceRecord, changed bool, err error) {
	if rec.DiskTemplate != "drbd" {
		return rec, false, api.Errorf(api.CodeWrongState, "instance %s has disk template %s: only drbd disks have a secondary", rec.Name, rec.DiskTemplate)
	}
	if node == rec.PrimaryNode {
		return rec, false, api.Errorf(api.CodeWrongInput, "node %s is the primary of %s; the new secondary must be another node", node, rec.Name)
	}
	if ip == "" {
		return rec, false, api.Errorf(api.CodeWrongState, "node %s has no secondary (replication) address", node)
	}
	u := usageOf(recs)
	out = replClone(rec)
	for i := range out.Disks {
		dd := out.Disks[i].DRBD
		if dd == nil || len(dd.Nodes) != 2 || dd.Nodes[0].Node != rec.PrimaryNode {
			return rec, false, api.Errorf(api.CodeWrongState, "disk %d of %s has no DRBD pair with the primary first", i, rec.Name)
		}
		if dd.Nodes[1].Node == node {
			continue // already the secondary (or being made it)
		}
		if len(dd.Leaving) > 0 {
			return rec, false, api.Errorf(api.CodeWrongState, "disk %d of %s is being moved to %s; finish that first (replace-disks -n %s)",
				i, rec.Name, dd.Nodes[1].Node, dd.Nodes[1].Node)
		}
		used := map[int]bool{}
		for _, n := range dd.Nodes {
			used[n.NodeID] = true
		}
		id := 0
		for used[id] {
			id++
		}
		m := u.minors[node]
		if m == nil {
			m = map[int]bool{}
			u.minors[node] = m
		}
		minor := 0
		for minor <= DRBDMinorLast && m[minor] {
			minor++
		}
		if minor > DRBDMinorLast {
			return rec, false, api.Errorf(api.CodeInsufficientResources, "node %s has no free DRBD minor (0-%d)", node, DRBDMinorLast)
		}
		m[minor] = true
		dd.Leaving = []keys.DRBDNode{dd.Nodes[1]}
		dd.Nodes = []keys.DRBDNode{dd.Nodes[0], {Node: node, IP: ip, Minor: minor, NodeID: id}}
		changed = true
	}
	return out, changed, nil
}

// replClone copies rec deeply enough to change its DRBD records.
func replClone(rec keys.InstanceRecord) keys.InstanceRecord {
	rec.Disks = slices.Clone(rec.Disks)
	for i, d := range rec.Disks {
		if d.DRBD != nil {
			dd := *d.DRBD
			dd.Nodes, dd.Leaving = slices.Clone(dd.Nodes), slices.Clone(dd.Leaving)
			rec.Disks[i].DRBD = &dd
		}
	}
	return rec
}

// replPhase is rec as the agents see it at one phase of a replace: every
// disk's Nodes from pick (Leaving cleared).
func replPhase(rec keys.InstanceRecord, pick func(dd *keys.DRBDDisk) []keys.DRBDNode) keys.InstanceRecord {
	out := replClone(rec)
	for _, d := range out.Disks {
		if d.DRBD != nil {
			d.DRBD.Nodes, d.DRBD.Leaving = pick(d.DRBD), nil
		}
	}
	return out
}

// Phases of a replace, from the record that names the new secondary in
// Nodes and the old ones in Leaving.
func allPeers(dd *keys.DRBDDisk) []keys.DRBDNode {
	return append(slices.Clone(dd.Nodes), dd.Leaving...)
}
func newPeers(dd *keys.DRBDDisk) []keys.DRBDNode { return dd.Nodes }
func oldPeers(dd *keys.DRBDDisk) []keys.DRBDNode {
	if len(dd.Leaving) == 0 {
		return dd.Nodes
	}
	return append([]keys.DRBDNode{dd.Nodes[0]}, dd.Leaving...)
}

// leavingOf is the node(s) that leave rec's disks and their node-ids per disk.
func leavingOf(rec keys.InstanceRecord) (nodes []string, ids map[int][]int) {
	ids = map[int][]int{}
	for i, d := range rec.Disks {
		if d.DRBD == nil {
			continue
		}
		for _, n := range d.DRBD.Leaving {
			if !slices.Contains(nodes, n.Node) {
				nodes = append(nodes, n.Node)
			}
			ids[i] = append(ids[i], n.NodeID)
		}
	}
	return nodes, ids
}

// replSecondary is the secondary node of a drbd instance ("" for others).
func replSecondary(rec keys.InstanceRecord) string {
	for _, d := range rec.Disks {
		if d.DRBD != nil && len(d.DRBD.Nodes) > 1 {
			return d.DRBD.Nodes[1].Node
		}
	}
	return ""
}
