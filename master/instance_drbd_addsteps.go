package master

import (
	"context"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// addDRBDSteps are the steps of a drbd add between reserve and create: the
// disks on both nodes, then (unless NoWaitForSync) the first sync. A
// failure undoes the add (both sides' disks, the record).
func (m *Master) addDRBDSteps(p api.InstanceAdd) []jobs.Step {
	steps := []jobs.Step{{Name: "disks", Run: func(ctx context.Context, sc *jobs.StepContext) error {
		rec, _, err := m.creatingRecord(ctx, sc, p.Name)
		if err != nil {
			return err
		}
		if err := m.createDRBDDisks(ctx, sc, rec); err != nil {
			return m.undoAdd(ctx, sc, rec, "disks", err)
		}
		return nil
	}, Undo: func(ctx context.Context, sc *jobs.StepContext) error {
		// A canceled add: the disks made on both nodes go.
		rec, _, err := m.creatingRecord(ctx, sc, p.Name)
		if api.CodeOf(err) == api.CodeWrongState {
			return nil
		}
		if err != nil {
			return err
		}
		if failed := m.removeBlockDisks(ctx, sc, rec, "undo-disks"); len(failed) > 0 {
			sc.Logf("disks of %s NOT all removed: %v", p.Name, failed)
		}
		return nil
	}}}
	if p.NoWaitForSync {
		return append(steps, jobs.Step{Name: "no-sync-wait", Run: func(ctx context.Context, sc *jobs.StepContext) error {
			sc.Logf("not waiting for the sync of %s (--no-wait-for-sync): instance info shows its progress", p.Name)
			return nil
		}})
	}
	return append(steps, jobs.Step{Name: "sync", Run: func(ctx context.Context, sc *jobs.StepContext) error {
		rec, _, err := m.creatingRecord(ctx, sc, p.Name)
		if err != nil {
			return err
		}
		if err := m.waitSync(ctx, sc, rec); err != nil {
			return m.undoAdd(ctx, sc, rec, "sync", err)
		}
		return nil
	}})
}
