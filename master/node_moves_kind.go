package master

import (
	"context"
	"encoding/json"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// plannedKind is the Kind of the first opcode of a move job (node.evacuate,
// node.migrate, node.failover, cluster.balance): it checks the params,
// logs the plan expandMoves added and sets it as its result; the opcodes
// after it do the moves.
func plannedKind[T interface{ Validate() error }](name string, locks func(T) []string, check func(context.Context, T) error) jobs.Kind {
	return jobs.Kind{
		Name: name,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, _, err := splitPlan[T](raw)
			if err != nil {
				return err
			}
			return check(ctx, p)
		},
		Locks: func(raw json.RawMessage) []string {
			p, _, err := splitPlan[T](raw)
			if err != nil {
				return nil
			}
			return locks(p)
		},
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			_, plan, err := splitPlan[T](raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{{Name: "plan", Run: func(_ context.Context, sc *jobs.StepContext) error {
				if plan == nil {
					return api.Errorf(api.CodeWrongInput, "%s without a plan (submit it through the API, which plans it)", name)
				}
				logPlan(sc, name, plan)
				return sc.SetResult(plan)
			}}}, nil
		},
	}
}

func logPlan(sc *jobs.StepContext, name string, plan *api.MovesResult) {
	if len(plan.Moves) == 0 {
		sc.Logf("%s: nothing to move", name)
	} else {
		sc.Logf("%s: %d moves (allocator score %.4f -> %.4f):", name, len(plan.Moves), plan.InitialScore, plan.FinalScore)
	}
	for _, mv := range plan.Moves {
		note := ""
		if mv.Note != "" {
			note = " (" + mv.Note + ")"
		}
		sc.Logf("  %s %s -> primary %s, secondary %s%s", mv.Instance, mv.Short, mv.Primary, mv.Secondary, note)
	}
	for _, u := range plan.Unmovable {
		sc.Logf("  not moved: %s", u)
	}
}

func (m *Master) checkNodeExists(ctx context.Context, name string) error {
	ok, err := m.nodeExists(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		return api.Errorf(api.CodeUnknownEntity, "node %s not found", name)
	}
	return nil
}
