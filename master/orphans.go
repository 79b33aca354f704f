package master

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// orphan is a domain or instance files on a node that no instance record
// claims: no record of that name has the node as its primary (or secondary),
// or the record's UUID is not theirs. Orphans are what a create lost by its
// job leaves when the agent could not undo it; they are listed by cluster
// verify, removed by cluster repair, and never adopted by a new instance
// (the agent refuses a create whose name an orphan holds).
type orphan struct {
	Node, Name, UUID, State string
}

// instanceNodes are the nodes an instance record places an instance on,
// read from its raw JSON so that a secondary node (DRBD) counts as soon as
// records carry one.
type instanceNodes struct {
	Name           string   `json:"name"`
	UUID           string   `json:"uuid"`
	PrimaryNode    string   `json:"primary_node"`
	SecondaryNode  string   `json:"secondary_node,omitempty"`
	SecondaryNodes []string `json:"secondary_nodes,omitempty"`
	// Disks carry the DRBD peers of a drbd instance (keys.DRBDDisk).
	Disks []struct {
		DRBD *struct {
			Nodes []struct {
				Node string `json:"node"`
			} `json:"nodes"`
		} `json:"drbd,omitempty"`
	} `json:"disks,omitempty"`
}

func (r instanceNodes) on(node string) bool {
	if r.PrimaryNode == node || r.SecondaryNode == node {
		return true
	}
	for _, n := range r.SecondaryNodes {
		if n == node {
			return true
		}
	}
	for _, d := range r.Disks {
		if d.DRBD == nil {
			continue
		}
		for _, n := range d.DRBD.Nodes {
			if n.Node == node {
				return true
			}
		}
	}
	return false
}

// instancesOn reads every instance record's nodes.
func (m *Master) instancesNodes(ctx context.Context) ([]instanceNodes, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.InstancesPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("list instances", err)
	}
	out := make([]instanceNodes, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r instanceNodes
		if json.Unmarshal(kv.Value, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// instancesOnNode lists the instances with their primary or a secondary on
// node, by name.
func (m *Master) instancesOnNode(ctx context.Context, node string) ([]string, error) {
	recs, err := m.instancesNodes(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range recs {
		if r.on(node) {
			out = append(out, r.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// findOrphans lists what the agents publish (domains and instance
// directories, with their UUIDs) that no record claims.
func (m *Master) findOrphans(ctx context.Context) ([]orphan, error) {
	recs, err := m.instancesNodes(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]instanceNodes{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.NodeStateRoot, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("list node states", err)
	}
	var out []orphan
	for _, kv := range resp.Kvs {
		node, tail, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), keys.NodeStateRoot), "/")
		name, isDom := strings.CutPrefix(tail, "domains/")
		if !ok || !isDom {
			continue
		}
		var d keys.DomainStatus
		if json.Unmarshal(kv.Value, &d) != nil {
			continue
		}
		r, ok := byName[name]
		if ok && r.on(node) && (d.UUID == "" || r.UUID == "" || d.UUID == r.UUID) {
			continue
		}
		out = append(out, orphan{Node: node, Name: name, UUID: d.UUID, State: d.State})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ownDomainDelete deletes the published domain state of rec on node, but
// only when it is rec's (same UUID, or none known): the state of an orphan
// of the same name must stay visible to verify and repair.
func (m *Master) ownDomainDelete(ctx context.Context, node string, rec *keys.InstanceRecord) []clientv3.Op {
	d, err := m.domainStatus(ctx, node, rec.Name)
	if err != nil || d == nil || d.UUID != "" && rec.UUID != "" && d.UUID != rec.UUID {
		return nil
	}
	return []clientv3.Op{clientv3.OpDelete(keys.NodeDomainKey(node, rec.Name))}
}
