package master

import (
	"context"
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

func (m *Master) opInstanceRename() jobs.Kind {
	k := instanceKind(api.OpInstanceRename, func(p api.InstanceRename) string { return p.Name },
		func(ctx context.Context, p api.InstanceRename) error {
			rec, _, err := m.instanceRecord(ctx, p.Name)
			if err != nil {
				return err
			}
			if err := m.requireStopped(ctx, rec, "rename it"); err != nil {
				return err
			}
			return m.checkNewName(ctx, p.NewName)
		},
		func(p api.InstanceRename) []jobs.Step {
			return []jobs.Step{
				{Name: "rename-on-node", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					if err := m.requireStopped(ctx, rec, "rename it"); err != nil {
						return err
					}
					if err := m.checkNewName(ctx, p.NewName); err != nil {
						return err
					}
					_, err = m.stepCmd(ctx, sc, "rename", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceRename,
						Instance: *rec, Params: keys.RenameParams{NewName: p.NewName}})
					return err
				}},
				{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, rev, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					next := *rec
					next.Name = p.NewName
					deleteNamed(sc, keys.InstancesPrefix, p.Name, rev)
					sc.Then(clientv3.OpDelete(keys.NodeDomainKey(rec.PrimaryNode, p.Name)))
					if err := createInstanceRecord(sc, next); err != nil {
						return err
					}
					sc.Logf("instance %s renamed to %s", p.Name, p.NewName)
					return nil
				}},
			}
		})
	k.Locks = func(raw json.RawMessage) []string {
		var p api.InstanceRename
		_ = json.Unmarshal(raw, &p)
		return []string{instanceLock(p.Name), instanceLock(p.NewName)}
	}
	return k
}
