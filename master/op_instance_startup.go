package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

func (m *Master) opInstanceStartup() jobs.Kind {
	return instanceKind(api.OpInstanceStartup, func(p api.InstanceStartup) string { return p.Name },
		func(ctx context.Context, p api.InstanceStartup) error { return m.checkInstance(ctx, p.Name) },
		func(p api.InstanceStartup) []jobs.Step {
			return []jobs.Step{
				{Name: "mark-up", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, err := m.updateRecord(ctx, sc, p.Name, func(r *keys.InstanceRecord) (bool, error) {
						if !p.Auto {
							changed := !r.AdminUp || r.Restarts != 0 || r.GaveUp || r.DisksDown
							r.AdminUp, r.Restarts, r.GaveUp, r.DisksDown = true, 0, false, false
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
					if isBlockTemplate(rec.DiskTemplate) {
						// Its disks may be down (a node that rebooted
						// brings them back as secondary only).
						if err := m.activateDisks(ctx, sc, rec, false); err != nil {
							return err
						}
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
		m.stepFailure(ctx, sc, rec, rec.PrimaryNode, haEventStartFailed, err)
		return err
	}
	sc.Logf("instance %s started on %s", rec.Name, rec.PrimaryNode)
	return nil
}
