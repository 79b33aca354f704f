package master

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Locks of the master's opcodes (docs/jobs.md, "Locks"):
//   - instance/<lowercase name>: the instance (exclusive);
//   - node/<name>: the node; exclusive for work on the node itself, and
//     taken shared, computed when the job starts, by every job that locks
//     an instance on it (its primary and secondary): so an exclusive node
//     lock covers the instances on the node;
//   - node-alloc: the allocator's view of all nodes; cluster: everything.

// nodeWideKinds work on every instance of the node their "name" names: when
// their job starts they lock each instance on it (nodeInstanceLocks), next
// to the node itself, so an instance put on the node after the job was
// submitted is covered too.
var nodeWideKinds = map[string]bool{api.OpNodeEvacuate: true, api.OpNodeMigrate: true, api.OpNodeFailover: true}

// withNodeLocks makes kind k also take, when its job starts, the nodes of
// the instances it locks, shared, and for a node-wide kind the instances on
// its node (and keeps any StateLocks k has).
func (m *Master) withNodeLocks(k jobs.Kind) jobs.Kind {
	if k.Locks == nil {
		return k
	}
	static, more := k.Locks, k.StateLocks
	if more == nil && nodeWideKinds[k.Name] {
		more = func(ctx context.Context, raw json.RawMessage) ([]string, error) {
			return m.nodeInstanceLocks(ctx, paramName(raw))
		}
	}
	k.StateLocks = func(ctx context.Context, raw json.RawMessage) ([]string, error) {
		var out []string
		if more != nil {
			l, err := more(ctx, raw)
			if err != nil {
				return nil, err
			}
			out = l
		}
		for _, l := range static(raw) {
			if name, ok := strings.CutPrefix(l, "instance/"); ok {
				nodes, err := m.lockedInstanceNodes(ctx, name)
				if err != nil {
					return nil, err
				}
				out = append(out, nodes...)
			}
		}
		return out, nil
	}
	return k
}

// lockedInstanceNodes returns the shared locks of the nodes of the instance
// whose lowercase name is lower (none when there is no such instance: an
// add or the new name of a rename).
func (m *Master) lockedInstanceNodes(ctx context.Context, lower string) ([]string, error) {
	name, err := m.nameTaken(ctx, keys.InstancesPrefix, lower)
	if err != nil || name == "" {
		return nil, err
	}
	r, err := store.Read[instanceNodes](ctx, m.client, keys.InstanceKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable("read instance", err)
	}
	var out []string
	for _, n := range append([]string{r.Value.PrimaryNode, r.Value.SecondaryNode}, r.Value.SecondaryNodes...) {
		if n != "" {
			out = append(out, jobs.Shared("node/"+n))
		}
	}
	return out, nil
}

// nodeInstanceLocks locks every instance with its primary or secondary on
// node: the StateLocks of a job that works on all of them (a node
// evacuation), next to its exclusive lock of the node.
func (m *Master) nodeInstanceLocks(ctx context.Context, node string) ([]string, error) {
	names, err := m.instancesOnNode(ctx, node)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = instanceLock(n)
	}
	return out, nil
}
