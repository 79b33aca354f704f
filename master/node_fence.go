package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// stonithTimeout bounds one call of a fence agent (Pacemaker's default
// pcmk_off_timeout is 60 s; fence_ipmilan's own power_timeout is 20 s).
const stonithTimeout = 60 * time.Second

// fenceRunner runs the cluster's fence agents.
func (m *Master) fenceRunner(log *slog.Logger) *fence.Runner {
	return &fence.Runner{Timeout: stonithTimeout, Attempts: 3, RetryDelay: time.Second, Log: log}
}

// fenceDevice reads a node's fence device (nil, nil: none).
func (m *Master) fenceDevice(ctx context.Context, node string) (*fence.Device, error) {
	var f api.NodeFence
	if _, err := store.GetJSON(ctx, m.client, keys.NodeFenceKey(node), &f); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, unavailable("read fence device", err)
	}
	return &fence.Device{Agent: f.Agent, Params: f.Params}, nil
}

// fenceView is a device as the API shows it: secret values hidden.
func fenceView(d *fence.Device) *api.NodeFence {
	if d == nil {
		return nil
	}
	return &api.NodeFence{Agent: d.Agent, Params: d.Redacted()}
}

// SetNodeFence implements api.NodeFenceBackend: it sets (nil: removes) the
// node's fence device. Not a job, so that the password never lands in a
// job's parameters; the log shows the device with its secrets hidden.
func (m *Master) SetNodeFence(ctx context.Context, name string, f *api.NodeFence) error {
	if _, err := m.nodeRecord(ctx, name); err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpDelete(keys.NodeFenceKey(name))}
	if f != nil {
		d := fence.Device{Agent: f.Agent, Params: f.Params}
		if err := d.Validate(); err != nil {
			return api.Errorf(api.CodeWrongInput, "%s", err.Error())
		}
		put, err := store.PutJSON(keys.NodeFenceKey(name), api.NodeFence{Agent: d.Agent, Params: d.Params})
		if err != nil {
			return err
		}
		ops = []clientv3.Op{put}
		m.log.Info("node_fence_device_set", "node", name, "agent", d.Agent, "params", d.Redacted())
	} else {
		m.log.Info("node_fence_device_removed", "node", name)
	}
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Txn(tctx).If(clientv3.Compare(clientv3.CreateRevision(keys.NodeKey(name)), ">", 0)).Then(ops...).Commit()
	if err != nil {
		return unavailable("write fence device", err)
	}
	if !resp.Succeeded {
		return api.Errorf(api.CodeUnknownEntity, "node %q removed meanwhile", name)
	}
	return nil
}

// stonith powers a node off through its fence device and confirms it.
func (m *Master) stonith(ctx context.Context, node string, log *slog.Logger) (api.FenceResult, error) {
	d, err := m.fenceDevice(ctx, node)
	if err == nil && d == nil {
		err = api.Errorf(api.CodeWrongState, "node %s has no fence device", node)
	}
	if err != nil {
		return api.FenceResult{Action: "off", Power: string(fence.PowerUnknown), At: time.Now().UTC(), Error: err.Error()}, err
	}
	log.Warn("stonith_start", "node", node, "agent", d.Agent)
	res, err := m.fenceRunner(log.With("node", node)).Off(ctx, *d)
	m.observeFence(res)
	if err != nil {
		log.Error("stonith_failed", "node", node, "agent", d.Agent, "attempts", res.Attempts, "duration", res.Duration, "error", res.Error)
		return res, fmt.Errorf("stonith %s: %s", node, res.Error)
	}
	log.Warn("stonith_done", "node", node, "agent", d.Agent, "attempts", res.Attempts, "duration", res.Duration, "power", res.Power)
	return res, nil
}
