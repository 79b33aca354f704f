package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

func (m *Master) opInstanceAdd() jobs.Kind {
	return jobs.Kind{
		Name: api.OpInstanceAdd,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parseOp[api.InstanceAdd](raw)
			if err != nil {
				return err
			}
			if err := m.checkNewName(ctx, p.Name); err != nil {
				return err
			}
			if p.Node == "" {
				if p.Node, p.SecondaryNode, err = m.allocateNode(ctx, p); err != nil {
					return err
				}
			}
			if _, _, err = m.checkAddTarget(ctx, p); err != nil {
				return err
			}
			return m.checkBlockAdd(ctx, p)
		},
		Locks: func(raw json.RawMessage) []string {
			var p api.InstanceAdd
			_ = json.Unmarshal(raw, &p)
			if p.Node == "" {
				return []string{instanceLock(p.Name), lockNodeAlloc}
			}
			if p.SecondaryNode != "" {
				return []string{instanceLock(p.Name), "node/" + p.Node, "node/" + p.SecondaryNode}
			}
			return []string{instanceLock(p.Name), "node/" + p.Node}
		},
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parseOp[api.InstanceAdd](raw)
			if err != nil {
				return nil, err
			}
			steps := []jobs.Step{
				{Name: "reserve", Run: func(ctx context.Context, sc *jobs.StepContext) error { return m.addReserve(ctx, sc, p) },
					Undo: func(ctx context.Context, sc *jobs.StepContext) error { return m.undoReserve(ctx, sc, p.Name) }},
			}
			if p.DiskTemplate == api.DiskTemplateDRBD {
				steps = append(steps, m.addDRBDSteps(p)...)
			}
			steps = append(steps, jobs.Step{Name: "create", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				rec, t, err := m.creatingRecord(ctx, sc, p.Name)
				if err != nil {
					return err
				}
				start := time.Now()
				inst, from := *rec, fmt.Sprintf("from %s@%d", rec.OS, rec.OSVersion)
				if p.NoInstall {
					t, inst.OSDigest, from = nil, "", "without installing a template (--no-install)"
				}
				_, err = m.stepCmd(ctx, sc, "create", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceCreate,
					Instance: inst, Template: t, NoInstall: p.NoInstall, Timeout: cmdTimeoutInstall})
				if err != nil {
					return m.undoAdd(ctx, sc, rec, "create", err)
				}
				sc.Logf("instance %s created on %s %s in %.1fs", p.Name, rec.PrimaryNode, from, time.Since(start).Seconds())
				return nil
			}, Undo: func(ctx context.Context, sc *jobs.StepContext) error { return m.undoCreate(ctx, sc, p.Name) }})
			if !p.NoStart {
				steps = append(steps, jobs.Step{Name: "start", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.creatingRecord(ctx, sc, p.Name)
					if err != nil {
						return err
					}
					if _, err := m.stepCmd(ctx, sc, "start", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceStart, Instance: *rec}); err != nil {
						return m.undoAdd(ctx, sc, rec, "start", err)
					}
					sc.Logf("instance %s started", p.Name)
					return nil
				}})
			}
			steps = append(steps, jobs.Step{Name: "commit", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				var rec keys.InstanceRecord
				rev, err := store.GetJSON(ctx, sc.Client, keys.InstanceKey(p.Name), &rec)
				if err != nil {
					return unavailable("read instance", err)
				}
				rec.CreatingJob, rec.AdminUp = 0, !p.NoStart
				put, err := store.PutJSON(keys.InstanceKey(p.Name), rec)
				if err != nil {
					return err
				}
				sc.If(store.Unchanged(keys.InstanceKey(p.Name), rev))
				sc.Then(put)
				sc.Logf("instance %s added", p.Name)
				st := api.NodeOnline
				return sc.SetResult(instanceView(rec, st, nil))
			}})
			return steps, nil
		},
	}
}

// addReserve checks again, allocates MACs and writes the record marked as
// being created by this job.
func (m *Master) addReserve(ctx context.Context, sc *jobs.StepContext, p api.InstanceAdd) error {
	if err := m.checkNewName(ctx, p.Name); err != nil {
		return err
	}
	if p.Node == "" {
		node, sec, err := m.allocateNode(ctx, p)
		if err != nil {
			return err
		}
		if sec != "" {
			sc.Logf("allocator chose node %s (secondary %s) for %s", node, sec, p.Name)
		} else {
			sc.Logf("allocator chose node %s for %s", node, p.Name)
		}
		p.Node, p.SecondaryNode = node, sec
	}
	hv, t, err := m.checkAddTarget(ctx, p)
	if err != nil {
		return err
	}
	if err := m.checkBlockAdd(ctx, p); err != nil {
		return err
	}
	var cr keys.ClusterRecord
	if _, err := store.GetJSON(ctx, sc.Client, keys.ClusterKey, &cr); err != nil {
		return unavailable("read cluster", err)
	}
	macs, err := allocMACs(ctx, sc.Client, cr.MACPrefix, len(p.NICs))
	if err != nil {
		return err
	}
	rec := newInstanceRecord(p, hv, t, macs, sc.JobID)
	if err := m.planBlockDisks(ctx, sc, p, &rec); err != nil {
		return err
	}
	if err := createInstanceRecord(sc, rec); err != nil {
		return err
	}
	sc.Logf("instance %s reserved on node %s (%s, template %s@%d, %d vcpus, %d MiB)", p.Name, p.Node, hv, t.Name, t.Version, p.VCPUs, p.MemoryMiB)
	return nil
}

// creatingRecord reads the record this add job reserved, and its template.
func (m *Master) creatingRecord(ctx context.Context, sc *jobs.StepContext, name string) (*keys.InstanceRecord, *keys.TemplateRecord, error) {
	var rec keys.InstanceRecord
	if _, err := store.GetJSON(ctx, sc.Client, keys.InstanceKey(name), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, api.Errorf(api.CodeWrongState, "instance %s vanished while being created", name)
		}
		return nil, nil, unavailable("read instance", err)
	}
	if rec.CreatingJob != sc.JobID {
		return nil, nil, api.Errorf(api.CodeWrongState, "instance %s is not being created by job %d", name, sc.JobID)
	}
	t, err := m.resolveTemplate(ctx, fmt.Sprintf("%s@%d", rec.OS, rec.OSVersion))
	if err != nil {
		return nil, nil, err
	}
	return &rec, t, nil
}
