package master

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// A node evacuation (node migrate, node failover, cluster balance) is ONE
// job: its first opcode carries the allocator's plan (and logs it), the
// following opcodes carry the moves out, one instance opcode per part of a
// move (instance.migrate or instance.failover, instance.replace-disks -n),
// each checkpointed and resumed like any opcode. expandMoves turns the
// submitted opcode into that job when it is submitted; the job locks every
// instance it moves (their opcodes' locks) and the node.

// planned is what expandMoves does with one opcode kind.
type planned func(ctx context.Context, raw json.RawMessage) (api.MovesResult, []api.OpCode, error)

func (m *Master) planners() map[string]planned {
	return map[string]planned{
		api.OpNodeEvacuate: m.planEvacuate,
		api.OpNodeMigrate: func(ctx context.Context, raw json.RawMessage) (api.MovesResult, []api.OpCode, error) {
			return m.planNodeMove(ctx, raw, false)
		},
		api.OpNodeFailover: func(ctx context.Context, raw json.RawMessage) (api.MovesResult, []api.OpCode, error) {
			return m.planNodeMove(ctx, raw, true)
		},
		api.OpClusterBalance: m.planBalance,
	}
}

// expandMoves returns sub with a planned opcode followed by the opcodes of
// its moves; other submissions are returned as they are.
func (m *Master) expandMoves(ctx context.Context, sub api.JobSubmit) (api.JobSubmit, error) {
	pl := m.planners()
	for i, op := range sub.Ops {
		plan, ok := pl[op.Kind]
		if !ok {
			continue
		}
		if len(sub.Ops) != 1 {
			return sub, api.Errorf(api.CodeWrongInput, "opcode %d (%s) must be the only opcode of its job: its moves are added to it", i, op.Kind)
		}
		if isPlannedOp(op.Params) {
			return sub, api.Errorf(api.CodeWrongInput, "%s: the plan is made by the master, not submitted", op.Kind)
		}
		res, ops, err := plan(ctx, op.Params)
		if err != nil {
			return sub, err
		}
		if len(ops)+1 > jobs.MaxOpsPerJob {
			return sub, api.Errorf(api.CodeWrongInput, "%s needs %d opcodes, a job takes %d: evacuate with --primary-only first, or balance with --max-moves", op.Kind, len(ops), jobs.MaxOpsPerJob-1)
		}
		head, err := withPlan(op, res)
		if err != nil {
			return sub, err
		}
		sub.Ops = append([]api.OpCode{head}, ops...)
	}
	return sub, nil
}

// plannedParams are the params of a planned opcode as the master stores
// them: the submitted ones plus the plan.
type plannedParams struct {
	Plan *api.MovesResult `json:"plan,omitempty"`
}

func isPlannedOp(raw json.RawMessage) bool {
	var p plannedParams
	_ = json.Unmarshal(raw, &p)
	return p.Plan != nil
}

// withPlan adds "plan" to op's params.
func withPlan(op api.OpCode, res api.MovesResult) (api.OpCode, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(op.Params, &fields); err != nil || fields == nil {
		fields = map[string]json.RawMessage{}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return op, fmt.Errorf("encode plan: %w", err)
	}
	fields["plan"] = b
	raw, err := json.Marshal(fields)
	if err != nil {
		return op, fmt.Errorf("encode params: %w", err)
	}
	return api.OpCode{Kind: op.Kind, Params: raw}, nil
}

// splitPlan separates a planned opcode's params into the submitted ones (T)
// and the plan.
func splitPlan[T interface{ Validate() error }](raw json.RawMessage) (T, *api.MovesResult, error) {
	var fields map[string]json.RawMessage
	var p T
	if err := json.Unmarshal(raw, &fields); err != nil {
		return p, nil, api.Errorf(api.CodeWrongInput, "bad parameters: %v", err)
	}
	var plan *api.MovesResult
	if b, ok := fields["plan"]; ok {
		plan = &api.MovesResult{}
		if err := json.Unmarshal(b, plan); err != nil {
			return p, nil, api.Errorf(api.CodeWrongInput, "bad plan: %v", err)
		}
		delete(fields, "plan")
	}
	rest, _ := json.Marshal(fields)
	p, err := parseOp[T](rest)
	return p, plan, err
}

// opsOf turns allocator moves into opcodes (and reports).
func (m *Master) opsOf(ctx context.Context, recs map[string]keys.InstanceRecord, moves []allocator.Move, keep func(allocator.Move) (allocator.Move, bool)) ([]api.MoveReport, []api.OpCode, error) {
	var reps []api.MoveReport
	var ops []api.OpCode
	for _, mv := range moves {
		mv, ok := keep(mv)
		if !ok {
			continue
		}
		rec, found := recs[mv.Instance]
		if !found {
			return nil, nil, api.Errorf(api.CodeUnknownEntity, "instance %s of the plan not found", mv.Instance)
		}
		o, err := m.moveOps(ctx, rec, mv)
		if err != nil {
			return nil, nil, err
		}
		reps = append(reps, moveReport(mv))
		ops = append(ops, o...)
	}
	return reps, ops, nil
}

// instancesOn lists the instances with a disk or domain on node (primary,
// DRBD secondary or leaving peer), sorted.
func instancesOn(recs map[string]keys.InstanceRecord, node string) []string {
	var out []string
	for name, r := range recs {
		on := r.PrimaryNode == node
		for _, d := range r.Disks {
			if d.DRBD != nil {
				for _, n := range allPeers(d.DRBD) {
					on = on || n.Node == node
				}
			}
		}
		if on {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
