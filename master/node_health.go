package master

import (
	"context"
	"encoding/json"
	"errors"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// nodeExtraSet is what node list and node info add to a node's record and
// status: the liveness controller's record and the fence device.
type nodeExtraSet struct {
	health map[string]*keys.NodeHealthRecord
	fence  map[string]*fence.Device
}

// apply sets n's state from the liveness record (while the node has no
// status: online is the agent's word) and its fence device, secrets
// hidden; full adds the record itself (node info).
func (e nodeExtraSet) apply(n *api.Node, full bool) {
	if d := e.fence[n.Name]; d != nil {
		n.Fence = fenceView(d)
	}
	h := e.health[n.Name]
	if h == nil {
		return
	}
	if !n.Offline && n.Status != api.NodeOnline && h.State != "" && h.State != api.NodeOnline {
		n.Status = h.State
		n.NeedsOperator = h.NeedsOperator
	}
	if full {
		hv := h.NodeHealth
		n.Health = &hv
	}
}

// nodeExtras reads every node's extras at revision rev.
func (m *Master) nodeExtras(ctx context.Context, rev int64) (nodeExtraSet, error) {
	e := nodeExtraSet{health: map[string]*keys.NodeHealthRecord{}, fence: map[string]*fence.Device{}}
	at := clientv3.WithRev(rev)
	hr, err := m.client.Get(ctx, keys.NodeHealthPrefix, clientv3.WithPrefix(), at)
	if err != nil {
		return e, unavailable("list node health", err)
	}
	fr, err := m.client.Get(ctx, keys.NodeFencePrefix, clientv3.WithPrefix(), at)
	if err != nil {
		return e, unavailable("list fence devices", err)
	}
	for _, kv := range hr.Kvs {
		r := &keys.NodeHealthRecord{}
		if json.Unmarshal(kv.Value, r) == nil {
			e.health[keys.NameFromKey(keys.NodeHealthPrefix, string(kv.Key))] = r
		}
	}
	for _, kv := range fr.Kvs {
		var f api.NodeFence
		if json.Unmarshal(kv.Value, &f) == nil {
			e.fence[keys.NameFromKey(keys.NodeFencePrefix, string(kv.Key))] = &fence.Device{Agent: f.Agent, Params: f.Params}
		}
	}
	return e, nil
}

// nodeExtra reads one node's extras.
func (m *Master) nodeExtra(ctx context.Context, name string) (nodeExtraSet, error) {
	e := nodeExtraSet{health: map[string]*keys.NodeHealthRecord{}, fence: map[string]*fence.Device{}}
	var h keys.NodeHealthRecord
	switch _, err := store.GetJSON(ctx, m.client, keys.NodeHealthKey(name), &h); {
	case err == nil:
		e.health[name] = &h
	case !errors.Is(err, store.ErrNotFound):
		return e, unavailable("read node health", err)
	}
	d, err := m.fenceDevice(ctx, name)
	if err != nil {
		return e, err
	}
	e.fence[name] = d
	return e, nil
}
