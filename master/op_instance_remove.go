package master

import (
	"context"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

func (m *Master) opInstanceRemove() jobs.Kind {
	return instanceKind(api.OpInstanceRemove, func(p api.InstanceName) string { return p.Name },
		func(ctx context.Context, p api.InstanceName) error { return m.checkInstance(ctx, p.Name) },
		func(p api.InstanceName) []jobs.Step {
			return []jobs.Step{
				{Name: "remove-on-node", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					node, _ := m.nodeRecord(ctx, rec.PrimaryNode)
					if node != nil && node.Offline {
						sc.Logf("node %s is offline: the instance's domain and disks there are not removed", rec.PrimaryNode)
						return nil
					}
					if _, err := m.stepCmd(ctx, sc, "remove", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceRemove, Instance: *rec}); err != nil {
						return err
					}
					sc.Logf("domain and disks of %s removed from %s", p.Name, rec.PrimaryNode)
					return nil
				}},
				{Name: "remove-disks", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil || !isBlockTemplate(rec.DiskTemplate) {
						return err
					}
					if failed := m.removeBlockDisks(ctx, sc, rec, "remove"); len(failed) > 0 {
						return api.Errorf(api.CodeWrongState, "disks of %s not removed: %s (the record is kept; mark a dead node offline to remove without it)",
							p.Name, strings.Join(failed, "; "))
					}
					sc.Logf("disks of %s removed from %s", p.Name, strings.Join(diskNodes(rec), ", "))
					return nil
				}},
				{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, rev, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					deleteNamed(sc, keys.InstancesPrefix, p.Name, rev)
					sc.Then(m.ownDomainDelete(ctx, rec.PrimaryNode, rec)...)
					sc.Then(clientv3.OpDelete(keys.InstanceHAKey(rec.UUID)))
					sc.Logf("instance %s removed", p.Name)
					return nil
				}},
			}
		})
}
