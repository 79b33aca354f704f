package master

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// DRBD allocation: per disk a cluster-wide TCP port, a minor on each of its
// nodes and a random shared secret. The table of what is taken is not a
// separate record: it is derived from the DRBDDisk records inside every
// instance record (creating ones included), so removing an instance frees
// its minors and port, and an instance add that writes its record in a txn
// comparing the instances prefix's revision (AllocRevision) cannot hand out
// what a concurrent add took. See docs/drbd.md.
const (
	DRBDPortFirst = 11000
	DRBDPortLast  = 14999
	// DRBDMinorLast is the highest minor handed out (DRBD allows 2^20).
	DRBDMinorLast = 1023
)

// DRBDPeer is one node of a new mirrored disk: its name and replication
// (secondary) address.
type DRBDPeer struct {
	Node string
	IP   string
}

// drbdUsage is what existing records take.
type drbdUsage struct {
	ports  map[int]bool
	minors map[string]map[int]bool
	names  map[string]bool
}

func usageOf(recs []keys.InstanceRecord) drbdUsage {
	u := drbdUsage{ports: map[int]bool{}, minors: map[string]map[int]bool{}, names: map[string]bool{}}
	for _, r := range recs {
		for _, d := range r.Disks {
			if d.DRBD == nil {
				continue
			}
			u.ports[d.DRBD.Port] = true
			u.names[d.DRBD.Resource] = true
			for _, n := range append(d.DRBD.Nodes[:len(d.DRBD.Nodes):len(d.DRBD.Nodes)], d.DRBD.Leaving...) {
				if u.minors[n.Node] == nil {
					u.minors[n.Node] = map[int]bool{}
				}
				u.minors[n.Node][n.Minor] = true
			}
		}
	}
	return u
}

// PlanDRBD allocates the DRBD records of n disks of instance name on peers
// (primary first), given every instance record: the lowest free port and,
// per node, the lowest free minor. Nothing is written.
func PlanDRBD(existing []keys.InstanceRecord, name string, peers []DRBDPeer, n int) ([]keys.DRBDDisk, error) {
	if len(peers) < 2 {
		return nil, api.Errorf(api.CodeWrongInput, "a drbd disk needs two nodes (-n PRIMARY:SECONDARY)")
	}
	seen := map[string]bool{}
	for _, p := range peers {
		if seen[p.Node] {
			return nil, api.Errorf(api.CodeWrongInput, "node %s named twice: the DRBD peers must be different nodes", p.Node)
		}
		if p.IP == "" {
			return nil, api.Errorf(api.CodeWrongState, "node %s has no secondary (replication) address", p.Node)
		}
		seen[p.Node] = true
	}
	u := usageOf(existing)
	out := make([]keys.DRBDDisk, 0, n)
	port := DRBDPortFirst
	for i := range n {
		for port <= DRBDPortLast && u.ports[port] {
			port++
		}
		if port > DRBDPortLast {
			return nil, api.Errorf(api.CodeInsufficientResources, "no free DRBD port in %d-%d", DRBDPortFirst, DRBDPortLast)
		}
		u.ports[port] = true
		d := keys.DRBDDisk{Resource: fmt.Sprintf("%s-d%d", name, i), Port: port, Secret: drbdSecret()}
		if u.names[d.Resource] {
			return nil, api.Errorf(api.CodeAlreadyExists, "DRBD resource %s exists", d.Resource)
		}
		for id, p := range peers {
			m := u.minors[p.Node]
			if m == nil {
				m = map[int]bool{}
				u.minors[p.Node] = m
			}
			minor := 0
			for minor <= DRBDMinorLast && m[minor] {
				minor++
			}
			if minor > DRBDMinorLast {
				return nil, api.Errorf(api.CodeInsufficientResources, "node %s has no free DRBD minor (0-%d)", p.Node, DRBDMinorLast)
			}
			m[minor] = true
			d.Nodes = append(d.Nodes, keys.DRBDNode{Node: p.Node, IP: p.IP, Minor: minor, NodeID: id})
		}
		out = append(out, d)
	}
	return out, nil
}

// drbdSecret is 24 random bytes, base64 (what the resource file's
// shared-secret takes).
func drbdSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// AllocRevision reads every instance record with the revision they were read
// at: an instance add plans with PlanDRBD and writes its record in a txn that
// compares keys.InstancesPrefix's revision to this (no record changed since).
func (m *Master) AllocRevision(ctx context.Context) ([]keys.InstanceRecord, int64, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.InstancesPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, unavailable("read instances", err)
	}
	recs := make([]keys.InstanceRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r keys.InstanceRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, 0, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b keys.InstanceRecord) int { return strings.Compare(a.Name, b.Name) })
	return recs, resp.Header.Revision, nil
}
