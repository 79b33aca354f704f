package master

import (
	"context"
	"fmt"
	"strings"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// `instance migrate --cleanup` after a migration that failed or was cut
// short: the node where the domain runs is (or becomes) the primary, what
// is left elsewhere is removed, and a drbd instance has one primary again.
// A domain running on two nodes is not resolved: the operator chooses.

// runningCopy finds the one node where the instance's domain runs ("" for
// none), as the nodes publish it.
func (m *Master) runningCopy(ctx context.Context, rec *keys.InstanceRecord) (string, map[string]*keys.DomainStatus, error) {
	copies, err := m.instanceCopies(ctx, rec)
	if err != nil {
		return "", nil, err
	}
	var running []string
	for _, n := range sortedKeys(copies) {
		if copies[n].State == keys.DomainRunning {
			running = append(running, n)
		}
	}
	if len(running) > 1 {
		return "", nil, api.Errorf(api.CodeWrongState, "instance %s runs on %s: stop the copy that is not current by hand (`virsh destroy`), then run the cleanup again",
			rec.Name, strings.Join(running, " and "))
	}
	if len(running) == 0 {
		return "", copies, nil
	}
	return running[0], copies, nil
}

func describeCopies(copies map[string]*keys.DomainStatus) string {
	var parts []string
	for _, n := range sortedKeys(copies) {
		parts = append(parts, fmt.Sprintf("%s: %s", n, copies[n].State))
	}
	if len(parts) == 0 {
		return "none reported"
	}
	return strings.Join(parts, ", ")
}

// cleanupPaused resolves a copy left paused on cut.target while none runs:
// it is resumed when the primary's copy is gone; when that is active
// (paused too) the primary's is resumed instead. It answers the node that
// runs the domain now.
func (m *Master) cleanupPaused(ctx context.Context, sc *jobs.StepContext, cut *migration) (string, error) {
	st, err := m.settleSource(ctx, sc, cut)
	if err != nil {
		return "", fmt.Errorf("instance %s is paused on %s and %s does not say what is left of it there: %w", cut.rec.Name, cut.target, cut.source, err)
	}
	node := cut.target
	if st.Active {
		node = cut.source
	}
	sc.Logf("instance %s is paused on %s, its copy on its primary %s is %s: the copy on %s is resumed", cut.rec.Name, cut.target, cut.source, st.State, node)
	if err := m.resumeCopy(ctx, sc, "cleanup-resume-"+node, cut.rec, node); err != nil {
		return "", fmt.Errorf("resume %s on %s: %w", cut.rec.Name, node, err)
	}
	return node, nil
}

// migrateCleanupSteps resolve instance name's interrupted migration.
func (m *Master) migrateCleanupSteps(name string) []jobs.Step {
	return []jobs.Step{{Name: "cleanup-record", Run: func(ctx context.Context, sc *jobs.StepContext) error {
		rec, _, err := m.instanceRecord(ctx, name)
		if err != nil {
			return err
		}
		runs, copies, err := m.runningCopy(ctx, rec)
		if err != nil {
			return err
		}
		sc.Logf("instance %s: recorded primary %s; copies: %s", name, rec.PrimaryNode, describeCopies(copies))
		res := api.MigrateResult{Instance: name, Source: rec.PrimaryNode, Target: rec.PrimaryNode, Mode: "cleanup"}
		if runs == "" {
			// A move cut short before the target's copy was resumed: the
			// primary says what is left of its copy first.
			if cut, err := m.pausedCopy(ctx, name, ""); err == nil && cut != nil {
				if runs, err = m.cleanupPaused(ctx, sc, cut); err != nil {
					return err
				}
			}
		}
		switch {
		case runs == "":
			sc.Logf("the domain runs nowhere: %s stays the primary (`drover instance startup %s` starts it)", rec.PrimaryNode, name)
		case runs == rec.PrimaryNode:
			sc.Logf("the domain runs on its primary %s", runs)
		default:
			sc.Logf("the domain runs on %s: the migration went through", runs)
			res.Target = runs
			if err := m.movePrimary(ctx, sc, rec, runs); err != nil {
				return err
			}
		}
		return sc.SetResult(res)
	}}, {Name: "cleanup-nodes", Run: func(ctx context.Context, sc *jobs.StepContext) error {
		rec, _, err := m.instanceRecord(ctx, name)
		if err != nil {
			return err
		}
		runs, copies, err := m.runningCopy(ctx, rec)
		if err != nil {
			return err
		}
		if runs != "" && runs != rec.PrimaryNode {
			return api.Errorf(api.CodeWrongState, "instance %s now runs on %s, not on its primary %s: run the cleanup again", name, runs, rec.PrimaryNode)
		}
		if err := m.drbdSingle(ctx, sc, "cleanup", rec, rec.PrimaryNode); err != nil {
			return err
		}
		for _, n := range sortedKeys(copies) {
			if err := m.forgetOn(ctx, sc, "cleanup", rec, n); err != nil {
				return err
			}
		}
		sc.Logf("instance %s: one primary (%s), nothing left elsewhere", name, rec.PrimaryNode)
		return nil
	}}}
}
