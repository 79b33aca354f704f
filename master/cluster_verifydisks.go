package master

import (
	"fmt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// What cluster verify-disks finds for one disk on one node (checkDisk),
// from the instance records and the DRBD state every agent publishes from
// events2. Split brains are reported with their recovery verb and never
// resolved here. See docs/drbd.md, "verify-disks".

type diskVerdict int

const (
	diskHealthy   diskVerdict = iota
	diskReconnect             // disk.adjust on the node brings it up or reconnects it
	diskSyncing               // a resync runs
	diskProblem               // reported, with a remedy when one is known
)

// checkDisk judges disk i of rec on node (a peer in its record) given the
// node's published state (nil: node unreachable).
func checkDisk(rec keys.InstanceRecord, i int, node string, st *keys.DRBDState) (diskVerdict, api.DiskProblem) {
	dd := rec.Disks[i].DRBD
	p := api.DiskProblem{Instance: rec.Name, Disk: i, Node: node, Resource: dd.Resource}
	other := rec.PrimaryNode
	if node == rec.PrimaryNode {
		other = replSecondary(rec)
	}
	problem := func(what, remedy string) (diskVerdict, api.DiskProblem) {
		p.What, p.Remedy = what, remedy
		return diskProblem, p
	}
	if len(dd.Leaving) > 0 {
		return problem("secondary being replaced (Leaving "+dd.Leaving[0].Node+")", fmt.Sprintf("drover instance replace-disks %s -n %s", rec.Name, dd.Nodes[1].Node))
	}
	if st == nil {
		if node == rec.PrimaryNode {
			return problem("node unreachable", fmt.Sprintf("drover instance failover %s", rec.Name))
		}
		return problem("node unreachable", fmt.Sprintf("drover instance replace-disks %s -n NODE", rec.Name))
	}
	r, ok := findResource(*st, dd.Resource)
	if !ok {
		p.What = "resource not up"
		return diskReconnect, p
	}
	if r.SplitBrain {
		victim := replSecondary(rec)
		return problem("split brain", fmt.Sprintf("drover instance recover-split-brain %s --discard %s (the node whose changes since the split are thrown away; %s is the secondary)", rec.Name, victim, victim))
	}
	switch r.Disk {
	case "Diskless", "Failed":
		return problem("disk "+r.Disk, fmt.Sprintf("drover instance replace-disks %s -a", rec.Name))
	}
	peer := peerNamed(&r, other)
	if peer == nil || peer.Connection == "StandAlone" {
		p.What = "StandAlone (not connected to " + other + ")"
		return diskReconnect, p
	}
	if peer.Connection != "Connected" {
		return problem(fmt.Sprintf("%s to %s (the peer is not there)", peer.Connection, other), "")
	}
	if r.Disk != "UpToDate" || peer.PeerDisk != "UpToDate" {
		if peer.Replication == "SyncSource" || peer.Replication == "SyncTarget" {
			p.What = fmt.Sprintf("resyncing (%s, %.0f%%)", peer.Replication, peer.SyncPercent)
			return diskSyncing, p
		}
		return problem(fmt.Sprintf("disk %s, peer disk %s, %s", r.Disk, peer.PeerDisk, peer.Replication), fmt.Sprintf("drover instance replace-disks %s -a", rec.Name))
	}
	return diskHealthy, p
}

// peerNamed is r's connection to node: DRBD 9 names it after the peer's
// host, 8.4's one connection is "peer" (nil: none).
func peerNamed(r *keys.DRBDResource, node string) *keys.DRBDPeer {
	var peer *keys.DRBDPeer
	for j := range r.Peers {
		if r.Peers[j].Name == node || r.Peers[j].Name == "peer" {
			peer = &r.Peers[j]
		}
	}
	return peer
}
