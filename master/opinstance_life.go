package master

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// checkInstance is the submit-time check of opcodes on an existing instance.
func (m *Master) checkInstance(ctx context.Context, name string) error {
	_, _, err := m.instanceRecord(ctx, name)
	return err
}

// updateRecord reads instance name, lets change modify it (returning false
// for no change) and commits it with the step's checkpoint.
func (m *Master) updateRecord(ctx context.Context, sc *jobs.StepContext, name string, change func(*keys.InstanceRecord) (bool, error)) (*keys.InstanceRecord, error) {
	rec, rev, err := m.instanceRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	changed, err := change(rec)
	if err != nil || !changed {
		return rec, err
	}
	put, err := store.PutJSON(keys.InstanceKey(name), rec)
	if err != nil {
		return nil, err
	}
	sc.If(store.Unchanged(keys.InstanceKey(name), rev))
	sc.Then(put)
	return rec, nil
}

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
				{Name: "record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, rev, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					sc.If(store.Unchanged(keys.InstanceKey(p.Name), rev))
					sc.Then(append(m.ownDomainDelete(ctx, rec.PrimaryNode, rec), clientv3.OpDelete(keys.InstanceKey(p.Name)))...)
					sc.Logf("instance %s removed", p.Name)
					return nil
				}},
			}
		})
}

func (m *Master) opInstanceStartup() jobs.Kind {
	return instanceKind(api.OpInstanceStartup, func(p api.InstanceStartup) string { return p.Name },
		func(ctx context.Context, p api.InstanceStartup) error { return m.checkInstance(ctx, p.Name) },
		func(p api.InstanceStartup) []jobs.Step {
			return []jobs.Step{
				{Name: "mark-up", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, err := m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
						if !p.Auto {
							changed := !r.AdminUp || r.Restarts != 0 || r.GaveUp
							r.AdminUp, r.Restarts, r.GaveUp = true, 0, false
							return changed, nil
						}
						if !r.AdminUp || r.GaveUp {
							return false, nil
						}
						if r.Restarts >= keys.MaxAutoRestarts {
							r.GaveUp = true
							sc.Logf("instance %s restarted %d times already: giving up (ERROR_down)", r.Name, r.Restarts)
							return true, nil
						}
						r.Restarts++
						sc.Logf("automatic restart %d/%d of %s", r.Restarts, keys.MaxAutoRestarts, r.Name)
						return true, nil
					})
					if err == nil && !p.Auto {
						sc.Logf("instance %s marked up", rec.Name)
					}
					return err
				}},
				{Name: "start", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					if !rec.AdminUp || rec.GaveUp {
						sc.Logf("instance %s is not to be started (admin %v, gave up %v)", p.Name, rec.AdminUp, rec.GaveUp)
						return nil
					}
					return m.startDomain(ctx, sc, rec)
				}},
			}
		})
}

// startDomain (re)defines a stopped domain with the record's parameters, so
// that a modify takes effect, then starts it. A domain that is gone (no
// state, or "missing": its files are there) is not redefined first: the
// agent's start defines it again from the record (state that heals).
func (m *Master) startDomain(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord) error {
	d, err := m.domainStatus(ctx, rec.PrimaryNode, rec.Name)
	if err != nil {
		return err
	}
	if d == nil || d.State == keys.DomainMissing {
		sc.Logf("instance %s has no domain on %s: it is defined again from its record", rec.Name, rec.PrimaryNode)
	} else if !domainUp(d) {
		if _, err := m.stepCmd(ctx, sc, "redefine", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceModify, Instance: *rec}); err != nil {
			return err
		}
	}
	if _, err := m.stepCmd(ctx, sc, "start", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceStart, Instance: *rec}); err != nil {
		return err
	}
	sc.Logf("instance %s started on %s", rec.Name, rec.PrimaryNode)
	return nil
}

func (m *Master) opInstanceShutdown() jobs.Kind {
	return instanceKind(api.OpInstanceShutdown, func(p api.InstanceShutdown) string { return p.Name },
		func(ctx context.Context, p api.InstanceShutdown) error { return m.checkInstance(ctx, p.Name) },
		func(p api.InstanceShutdown) []jobs.Step {
			timeout, _ := p.ParseTimeout()
			return []jobs.Step{
				{Name: "mark-down", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					_, err := m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
						changed := r.AdminUp || r.Restarts != 0 || r.GaveUp
						r.AdminUp, r.Restarts, r.GaveUp = false, 0, false
						return changed, nil
					})
					if err == nil {
						sc.Logf("instance %s marked down", p.Name)
					}
					return err
				}},
				{Name: "shutdown", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.instanceRecord(ctx, p.Name)
					if err != nil {
						return err
					}
					_, err = m.stepCmd(ctx, sc, "shutdown", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceShutdown, Instance: *rec,
						Params: keys.ShutdownParams{TimeoutSeconds: max(1, int(timeout/time.Second))}, Timeout: timeout + time.Minute})
					if err != nil {
						return err
					}
					sc.Logf("instance %s shut down", p.Name)
					return nil
				}},
			}
		})
}

func (m *Master) opInstanceReboot() jobs.Kind {
	return instanceKind(api.OpInstanceReboot, func(p api.InstanceName) string { return p.Name },
		func(ctx context.Context, p api.InstanceName) error {
			rec, _, err := m.instanceRecord(ctx, p.Name)
			if err != nil {
				return err
			}
			if !rec.AdminUp {
				return api.Errorf(api.CodeWrongState, "instance %s is marked down; use startup", p.Name)
			}
			return nil
		},
		func(p api.InstanceName) []jobs.Step {
			return []jobs.Step{{Name: "reboot", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				rec, _, err := m.instanceRecord(ctx, p.Name)
				if err != nil {
					return err
				}
				if !rec.AdminUp {
					return api.Errorf(api.CodeWrongState, "instance %s is marked down; use startup", p.Name)
				}
				if _, err := m.stepCmd(ctx, sc, "reboot", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceReboot, Instance: *rec, Timeout: 5 * time.Minute}); err != nil {
					return err
				}
				sc.Logf("instance %s rebooted", p.Name)
				return nil
			}}}
		})
}

// requireStopped refuses an instance that is marked up or whose domain runs.
func (m *Master) requireStopped(ctx context.Context, rec *keys.InstanceRecord, what string) error {
	if rec.AdminUp {
		return api.Errorf(api.CodeWrongState, "instance %s must be shut down to %s", rec.Name, what)
	}
	d, err := m.domainStatus(ctx, rec.PrimaryNode, rec.Name)
	if err != nil {
		return err
	}
	if domainUp(d) {
		return api.Errorf(api.CodeWrongState, "instance %s still runs on %s (ERROR_up); shut it down to %s", rec.Name, rec.PrimaryNode, what)
	}
	return nil
}
