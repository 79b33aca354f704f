package master

import (
	"context"
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

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
					put, err := store.PutJSON(keys.InstanceKey(p.NewName), next)
					if err != nil {
						return err
					}
					sc.If(store.Unchanged(keys.InstanceKey(p.Name), rev), store.Absent(keys.InstanceKey(p.NewName)))
					sc.Then(clientv3.OpDelete(keys.InstanceKey(p.Name)), clientv3.OpDelete(keys.NodeDomainKey(rec.PrimaryNode, p.Name)), put)
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

func (m *Master) opInstanceGrowDisk() jobs.Kind {
	check := func(rec *keys.InstanceRecord, p api.InstanceGrowDisk) error {
		if rec.DiskTemplate != api.DiskTemplateFile {
			return api.Errorf(api.CodeWrongState, "instance %s has disk template %s: no disks to grow", rec.Name, rec.DiskTemplate)
		}
		if p.Disk >= len(rec.Disks) {
			return api.Errorf(api.CodeWrongInput, "instance %s has %d disks; no disk %d", rec.Name, len(rec.Disks), p.Disk)
		}
		if rec.Disks[p.Disk].SizeMiB+p.AmountMiB > api.MaxInstanceDiskMiB {
			return api.Errorf(api.CodeWrongInput, "disk %d would exceed %d MiB", p.Disk, api.MaxInstanceDiskMiB)
		}
		return nil
	}
	return instanceKind(api.OpInstanceGrowDisk, func(p api.InstanceGrowDisk) string { return p.Name },
		func(ctx context.Context, p api.InstanceGrowDisk) error {
			rec, _, err := m.instanceRecord(ctx, p.Name)
			if err != nil {
				return err
			}
			return check(rec, p)
		},
		func(p api.InstanceGrowDisk) []jobs.Step {
			return []jobs.Step{
				{Name: "grow-on-node", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					if err := check(rec, p); err != nil {
						return err
					}
					target := rec.Disks[p.Disk].SizeMiB + p.AmountMiB
					_, err = m.stepCmd(ctx, sc, "grow-disk", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceGrowDisk, Instance: *rec,
						Params: keys.GrowDiskParams{Disk: p.Disk, AmountMiB: p.AmountMiB, SizeMiB: target}})
					if err == nil {
						sc.Logf("disk %d of %s grown to %d MiB", p.Disk, p.Name, target)
					}
					return err
				}},
				{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					_, err := m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
						if p.Disk >= len(r.Disks) {
							return false, api.Errorf(api.CodeWrongState, "disk %d vanished", p.Disk)
						}
						r.Disks[p.Disk].SizeMiB += p.AmountMiB
						return true, nil
					})
					return err
				}},
			}
		})
}

func (m *Master) opInstanceModify() jobs.Kind {
	return instanceKind(api.OpInstanceModify, func(p api.InstanceModifyOp) string { return p.Name },
		func(ctx context.Context, p api.InstanceModifyOp) error { return m.checkModify(ctx, p) },
		func(p api.InstanceModifyOp) []jobs.Step {
			return []jobs.Step{
				{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, err := m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
						if p.VCPUs != nil {
							r.VCPUs = *p.VCPUs
						}
						if p.MemoryMiB != nil {
							r.MemoryMiB = *p.MemoryMiB
						}
						return true, nil
					})
					if err != nil {
						return err
					}
					sc.Logf("instance %s: vcpus=%d memory=%dMiB", p.Name, rec.VCPUs, rec.MemoryMiB)
					return nil
				}},
				{Name: "redefine", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					d, err := m.domainStatus(ctx, rec.PrimaryNode, rec.Name)
					if err != nil {
						return err
					}
					if domainUp(d) {
						sc.Logf("instance %s runs: the new parameters take effect at its next start", p.Name)
						return nil
					}
					if _, _, err := m.nodeUsable(ctx, rec.PrimaryNode); err != nil {
						sc.Logf("node %s not usable (%s): the domain is redefined at the next start", rec.PrimaryNode, api.AsError(err).Message)
						return nil
					}
					if _, err := m.stepCmd(ctx, sc, "modify", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceModify, Instance: *rec}); err != nil {
						// The record holds the new parameters; startup
						// redefines the domain before it starts it.
						sc.Logf("redefining the domain failed (%s): it is redefined at the next start", api.AsError(err).Message)
						return nil
					}
					sc.Logf("domain of %s redefined", p.Name)
					return nil
				}},
			}
		})
}
