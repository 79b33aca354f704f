package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

func nodeLock(name string) []string { return []string{"node/" + name} }

// paramName extracts the "name" field of an opcode's parameters (for locks).
func paramName(raw json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(raw, &p)
	return p.Name
}

// nodeExists reports whether node name has a record.
func (m *Master) nodeExists(ctx context.Context, name string) (bool, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.NodeKey(name), clientv3.WithCountOnly())
	if err != nil {
		return false, unavailable("read node", err)
	}
	return resp.Count > 0, nil
}

func (m *Master) opNodeAdd() jobs.Kind {
	parse := func(raw json.RawMessage) (api.NodeAdd, error) {
		var p api.NodeAdd
		if err := decodeParams(raw, &p); err != nil {
			return p, err
		}
		if err := validName("node", p.Name); err != nil {
			return p, err
		}
		if err := validIP("primary_ip", p.PrimaryIP); err != nil {
			return p, err
		}
		return p, validIP("secondary_ip", p.SecondaryIP)
	}
	return jobs.Kind{
		Name: api.OpNodeAdd,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parse(raw)
			if err != nil {
				return err
			}
			return m.checkNameFree(ctx, "node", keys.NodesPrefix, p.Name)
		},
		Locks: func(raw json.RawMessage) []string { return nodeLock(paramName(raw)) },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parse(raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{
				{Name: "etcd-user", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					if err := ensureNodeUser(ctx, sc.Client, p.Name); err != nil {
						return err
					}
					sc.Logf("etcd user %s with its role created", keys.NodeEtcdUser(p.Name))
					return nil
				}},
				{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					exists, err := m.nodeExists(ctx, p.Name)
					if err != nil {
						return err
					}
					if exists {
						return api.Errorf(api.CodeAlreadyExists, "node %q already exists", p.Name)
					}
					rec := keys.NodeRecord{
						Name: p.Name, UUID: uuid.NewString(), PrimaryIP: p.PrimaryIP, SecondaryIP: p.SecondaryIP,
						Group: p.Group, MasterCapable: p.MasterCapable == nil || *p.MasterCapable,
						VMCapable: p.VMCapable == nil || *p.VMCapable, Tags: p.Tags,
						AddedAt: time.Now().UTC(),
					}
					if rec.Group == "" {
						rec.Group = "default"
					}
					put, err := store.PutJSON(keys.NodeKey(p.Name), rec)
					if err != nil {
						return err
					}
					sc.If(store.Absent(keys.NodeKey(p.Name)))
					sc.Then(put)
					sc.Logf("node %s added", p.Name)
					return sc.SetResult(nodeView(rec, nil))
				}},
			}, nil
		},
	}
}

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
					sc.Then(clientv3.OpDelete(keys.NodeKey(p.Name)),
						clientv3.OpDelete(keys.NodeStatePrefix(p.Name), clientv3.WithPrefix()),
						clientv3.OpDelete(keys.NodeCmdPrefix(p.Name), clientv3.WithPrefix()))
					sc.Logf("node %s removed", p.Name)
					return nil
				}},
			}, nil
		},
	}
}

func (m *Master) opNodeModify() jobs.Kind {
	parse := func(raw json.RawMessage) (api.NodeModifyOp, error) {
		var p api.NodeModifyOp
		if err := decodeParams(raw, &p); err != nil {
			return p, err
		}
		if err := validName("node", p.Name); err != nil {
			return p, err
		}
		if p.Drained == nil && p.Offline == nil && p.MasterCapable == nil && p.VMCapable == nil && p.SecondaryIP == nil {
			return p, api.Errorf(api.CodeWrongInput, "node modify without changes")
		}
		if p.SecondaryIP != nil {
			return p, validIP("secondary_ip", *p.SecondaryIP)
		}
		return p, nil
	}
	return jobs.Kind{
		Name: api.OpNodeModify,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parse(raw)
			if err != nil {
				return err
			}
			_, err = m.nodeRecord(ctx, p.Name)
			return err
		},
		Locks: func(raw json.RawMessage) []string { return nodeLock(paramName(raw)) },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parse(raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{{Name: "update", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				var rec keys.NodeRecord
				rev, err := store.GetJSON(ctx, sc.Client, keys.NodeKey(p.Name), &rec)
				if errors.Is(err, store.ErrNotFound) {
					return api.Errorf(api.CodeUnknownEntity, "node %q not found", p.Name)
				}
				if err != nil {
					return err
				}
				var changes []string
				set := func(dst *bool, v *bool, what string) {
					if v != nil {
						*dst = *v
						changes = append(changes, fmt.Sprintf("%s=%t", what, *v))
					}
				}
				set(&rec.Drained, p.Drained, "drained")
				set(&rec.Offline, p.Offline, "offline")
				set(&rec.MasterCapable, p.MasterCapable, "master_capable")
				set(&rec.VMCapable, p.VMCapable, "vm_capable")
				if p.SecondaryIP != nil {
					rec.SecondaryIP = *p.SecondaryIP
					changes = append(changes, "secondary_ip="+*p.SecondaryIP)
				}
				put, err := store.PutJSON(keys.NodeKey(p.Name), rec)
				if err != nil {
					return err
				}
				sc.If(store.Unchanged(keys.NodeKey(p.Name), rev))
				sc.Then(put)
				sc.Logf("node %s modified: %s", p.Name, strings.Join(changes, ", "))
				return sc.SetResult(nodeView(rec, nil))
			}}}, nil
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
