package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

func (m *Master) opInstanceReinstall() jobs.Kind {
	osRef := func(rec *keys.InstanceRecord, p api.InstanceReinstall) string {
		if p.OS != "" {
			return p.OS
		}
		return rec.OS
	}
	return instanceKind(api.OpInstanceReinstall, func(p api.InstanceReinstall) string { return p.Name },
		func(ctx context.Context, p api.InstanceReinstall) error {
			rec, _, err := m.instanceRecord(ctx, p.Name)
			if err != nil {
				return err
			}
			if err := m.requireStopped(ctx, rec, "reinstall it"); err != nil {
				return err
			}
			_, err = m.resolveTemplate(ctx, osRef(rec, p))
			return err
		},
		func(p api.InstanceReinstall) []jobs.Step {
			return []jobs.Step{{Name: "reinstall", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				rec, rev, err := m.instanceRecord(ctx, p.Name)
				if err != nil {
					return err
				}
				if err := m.requireStopped(ctx, rec, "reinstall it"); err != nil {
					return err
				}
				t, err := m.resolveTemplate(ctx, osRef(rec, p))
				if err != nil {
					return err
				}
				next := *rec
				next.OS, next.OSVersion, next.OSDigest = t.Name, t.Version, t.Digest
				if _, err := m.stepCmd(ctx, sc, "reinstall", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceReinstall,
					Instance: next, Template: t, Timeout: cmdTimeoutInstall}); err != nil {
					return err
				}
				put, err := store.PutJSON(keys.InstanceKey(p.Name), next)
				if err != nil {
					return err
				}
				sc.If(store.Unchanged(keys.InstanceKey(p.Name), rev))
				sc.Then(put)
				sc.Logf("instance %s reinstalled from %s@%d", p.Name, t.Name, t.Version)
				return nil
			}}}
		})
}
