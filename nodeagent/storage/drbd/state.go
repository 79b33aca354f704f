package drbd

import (
	"slices"
	"strconv"
	"strings"

	"github.com/drover-project/drover/master/keys"
)

// State is the kernel's DRBD state as events2 reports it, built up event by
// event. It is not safe for concurrent use (Monitor serialises it).
type State struct {
	res map[string]*resState
}

type resState struct {
	role    string
	minor   int
	disk    string
	sizeKiB int64
	// splitBrain: peer-node-ids ("" when the line named none) for which
	// the split-brain helper was called and no handshake succeeded since.
	splitBrain map[string]bool
	peers      map[string]*peerState // by peer-node-id
}

type peerState struct {
	name, connection, role, replication, peerDisk string
	nodeID                                        int
	outOfSync                                     int64
	done                                          float64 // DRBD 9's "done:" during a resync; -1 unknown
}

// NewState is an empty state.
func NewState() *State { return &State{res: map[string]*resState{}} }

// Reset forgets everything (before a new initial dump).
func (s *State) Reset() { s.res = map[string]*resState{} }

// Apply folds one event into the state. It reports whether anything a
// DRBDResource shows changed (statistics such as read/written do not count).
func (s *State) Apply(e Event) bool {
	name := e.Fields["name"]
	if name == "" {
		return false
	}
	if e.Object == "resource" && e.Action == "destroy" {
		_, had := s.res[name]
		delete(s.res, name)
		return had
	}
	r := s.res[name]
	if r == nil {
		if e.Action == "destroy" {
			return false
		}
		r = &resState{role: "Unknown", minor: -1, disk: "Diskless", peers: map[string]*peerState{}, splitBrain: map[string]bool{}}
		s.res[name] = r
	}
	before := r.snapshot(name)
	switch e.Object {
	case "resource":
		set(&r.role, e.Fields, "role")
	case "device":
		if e.Action == "destroy" {
			r.minor, r.disk, r.sizeKiB = -1, "Diskless", 0
			break
		}
		if m, err := strconv.Atoi(e.Fields["minor"]); err == nil {
			r.minor = m
		}
		set(&r.disk, e.Fields, "disk")
		if v, err := strconv.ParseInt(e.Fields["size"], 10, 64); err == nil {
			r.sizeKiB = v
		}
	case "connection", "peer-device":
		id := e.Fields["peer-node-id"]
		if e.Object == "connection" && e.Action == "destroy" {
			delete(r.peers, id)
			break
		}
		p := r.peers[id]
		if p == nil {
			if e.Action == "destroy" {
				break
			}
			p = &peerState{connection: "StandAlone", role: "Unknown", peerDisk: "DUnknown", replication: "Off", done: -1}
			p.nodeID, _ = strconv.Atoi(id)
			r.peers[id] = p
		}
		set(&p.name, e.Fields, "conn-name")
		if e.Object == "connection" {
			set(&p.connection, e.Fields, "connection")
			set(&p.role, e.Fields, "role")
			break
		}
		if e.Action == "destroy" {
			p.replication, p.peerDisk, p.done = "Off", "DUnknown", -1
			break
		}
		set(&p.replication, e.Fields, "replication")
		if handshakeDone(p.replication) {
			delete(r.splitBrain, id)
		}
		set(&p.peerDisk, e.Fields, "peer-disk")
		if v, err := strconv.ParseInt(e.Fields["out-of-sync"], 10, 64); err == nil {
			p.outOfSync = v
		}
		if v, ok := e.Fields["done"]; ok {
			if d, err := strconv.ParseFloat(v, 64); err == nil {
				p.done = d
			}
		} else if !strings.HasPrefix(p.replication, "Sync") {
			p.done = -1
		}
	case "helper":
		if e.Action == "call" && e.Fields["helper"] == "split-brain" {
			r.splitBrain[e.Fields["peer-node-id"]] = true
		}
	}
	return !equalRes(before, r.snapshot(name))
}

// handshakeDone: a replication state reached only after the peers agreed
// on their data (a resolved split brain gets there, an unresolved one not).
func handshakeDone(replication string) bool {
	switch replication {
	case "Established", "SyncSource", "SyncTarget", "PausedSyncS", "PausedSyncT", "WFBitMapS", "WFBitMapT", "Ahead", "Behind":
		return true
	}
	return false
}

func set(dst *string, f map[string]string, k string) {
	if v, ok := f[k]; ok {
		*dst = v
	}
}

// Resources is the state, sorted by resource name, peers by node id.
func (s *State) Resources() []keys.DRBDResource {
	out := make([]keys.DRBDResource, 0, len(s.res))
	for name, r := range s.res {
		out = append(out, r.snapshot(name))
	}
	slices.SortFunc(out, func(a, b keys.DRBDResource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Resource is one resource's state (ok false when the kernel has none).
func (s *State) Resource(name string) (keys.DRBDResource, bool) {
	r, ok := s.res[name]
	if !ok {
		return keys.DRBDResource{}, false
	}
	return r.snapshot(name), true
}

func (r *resState) snapshot(name string) keys.DRBDResource {
	out := keys.DRBDResource{Name: name, Role: r.role, Minor: r.minor, Disk: r.disk, SizeKiB: r.sizeKiB, SplitBrain: len(r.splitBrain) > 0}
	for _, p := range r.peers {
		out.Peers = append(out.Peers, keys.DRBDPeer{Name: p.name, NodeID: p.nodeID, Connection: p.connection, Role: p.role,
			Replication: p.replication, PeerDisk: p.peerDisk, OutOfSyncKiB: p.outOfSync, SyncPercent: p.syncPercent(r.sizeKiB)})
	}
	slices.SortFunc(out.Peers, func(a, b keys.DRBDPeer) int { return a.NodeID - b.NodeID })
	return out
}

// syncPercent: DRBD 9's own figure during a resync, else what the
// out-of-sync amount leaves of the device.
func (p *peerState) syncPercent(size int64) float64 {
	if p.done >= 0 && strings.HasPrefix(p.replication, "Sync") {
		return p.done
	}
	if size <= 0 {
		return 0
	}
	v := 100 * float64(size-p.outOfSync) / float64(size)
	return float64(int(max(0, min(100, v))*10)) / 10
}

func equalRes(a, b keys.DRBDResource) bool {
	if a.Name != b.Name || a.Role != b.Role || a.Minor != b.Minor || a.Disk != b.Disk || a.SizeKiB != b.SizeKiB ||
		a.SplitBrain != b.SplitBrain || len(a.Peers) != len(b.Peers) {
		return false
	}
	for i := range a.Peers {
		x, y := a.Peers[i], b.Peers[i]
		// Sync progress counts in whole percents, so a resync does not
		// republish on every statistics line.
		x.OutOfSyncKiB, y.OutOfSyncKiB = 0, 0
		x.SyncPercent, y.SyncPercent = float64(int(x.SyncPercent)), float64(int(y.SyncPercent))
		if x != y {
			return false
		}
	}
	return true
}
