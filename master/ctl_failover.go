package master

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// failoverNode deals with the instances whose primary is on a node that is
// now fenced (the liveness controller calls it; docs/ha.md). Instances
// that were stopped stay stopped. Failing a drbd instance over to its
// secondary needs the DRBD failover step (branch drbd-core), which is not
// on main yet: until it is, the instances that should run are reported
// (logged, and in the node's health record) and left alone; nothing else
// can safely take them over (plain and file disks live on the dead node).
func (m *Master) failoverNode(ctx context.Context, _ store.Fence, node string, log *slog.Logger) error {
	insts, err := m.primariesOn(ctx, node)
	if err != nil {
		return err
	}
	for _, in := range insts {
		if !in.AdminUp {
			log.Info("failover_skipped", "node", node, "instance", in.Name, "reason", "stopped: stays stopped")
			m.observeFailover("stopped")
			continue
		}
		log.Warn("failover_unavailable", "node", node, "instance", in.Name, "disk_template", in.DiskTemplate,
			"reason", "no failover step for this disk template in this version")
		m.observeFailover("unavailable")
	}
	return nil
}

// primariesOn lists the instances whose primary is node, by name.
func (m *Master) primariesOn(ctx context.Context, node string) ([]keys.InstanceRecord, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.InstancesPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("failover: list instances: %w", err)
	}
	var out []keys.InstanceRecord
	for _, kv := range resp.Kvs {
		var r keys.InstanceRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("failover: decode %s: %w", kv.Key, err)
		}
		if r.PrimaryNode == node && r.CreatingJob == 0 {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
