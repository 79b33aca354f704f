package master

import (
	"context"
	"encoding/json"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

func (m *Master) opNodeRemove() jobs.Kind {
	parse := func(raw json.RawMessage) (api.NodeRemove, error) {
		var p api.NodeRemove
		if err := decodeParams(raw, &p); err != nil {
			return p, err
		}
		return p, validName("node", p.Name)
	}
	return jobs.Kind{
		Name: api.OpNodeRemove,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parse(raw)
			if err != nil {
				return err
			}
			return m.checkNodeRemovable(ctx, p.Name)
		},
		Locks: func(raw json.RawMessage) []string { return nodeLock(paramName(raw)) },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parse(raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{
				{Name: "check", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					return m.checkNodeRemovable(ctx, p.Name)
				}},
				{Name: "etcd-user", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					if err := removeNodeUser(ctx, sc.Client, p.Name); err != nil {
						return err
					}
					sc.Logf("etcd user %s removed", keys.NodeEtcdUser(p.Name))
					return nil
				}},
				{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					deleteNamed(sc, keys.NodesPrefix, p.Name, 0)
					sc.Then(clientv3.OpDelete(keys.NodeStatePrefix(p.Name), clientv3.WithPrefix()),
						clientv3.OpDelete(keys.NodeCmdPrefix(p.Name), clientv3.WithPrefix()))
					sc.Logf("node %s removed", p.Name)
					return nil
				}},
			}, nil
		},
	}
}

// checkNodeRemovable refuses to remove a node that does not exist, or on
// which an instance has its primary or a secondary: the instance would be
// left pointing at a node that is gone (forced or not, as Ganeti's
// gnt-node remove refuses).
func (m *Master) checkNodeRemovable(ctx context.Context, name string) error {
	if _, err := m.nodeRecord(ctx, name); err != nil {
		return err
	}
	insts, err := m.instancesOnNode(ctx, name)
	if err != nil {
		return err
	}
	if len(insts) > 0 {
		return api.Errorf(api.CodeWrongState, "node %s still has instances (primary or secondary): %s; remove or move them first",
			name, strings.Join(insts, ", "))
	}
	return nil
}
