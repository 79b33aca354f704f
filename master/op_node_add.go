package master

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

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
					if err := createNamed(sc, keys.NodesPrefix, p.Name, rec); err != nil {
						return err
					}
					sc.Logf("node %s added", p.Name)
					return sc.SetResult(nodeView(rec, nil))
				}},
			}, nil
		},
	}
}
