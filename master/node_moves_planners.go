package master

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/api"
)

// planEvacuate: the allocator's evacuation plan (N+1 kept at every step
// where some node allows it; a move that cannot keep it says so in its
// note). --primary-only keeps the primaries' failovers (the node stays
// their secondary), --secondary-only the secondaries' replacements.
func (m *Master) planEvacuate(ctx context.Context, raw json.RawMessage) (api.MovesResult, []api.OpCode, error) {
	p, err := parseOp[api.NodeEvacuate](raw)
	if err != nil {
		return api.MovesResult{}, nil, err
	}
	if _, err := m.nodeRecord(ctx, p.Name); err != nil {
		return api.MovesResult{}, nil, err
	}
	c, recs, err := m.moveSnapshot(ctx)
	if err != nil {
		return api.MovesResult{}, nil, err
	}
	plan, err := c.Evacuate(p.Name)
	if err != nil {
		return api.MovesResult{}, nil, api.Errorf(api.CodeWrongInput, "allocator: %v", err)
	}
	keep := func(mv allocator.Move) (allocator.Move, bool) {
		isPrimary := recs[mv.Instance].PrimaryNode == p.Name
		switch p.Mode {
		case api.EvacuatePrimaryOnly:
			if !isPrimary {
				return mv, false
			}
			// Only the failover part: the node becomes the secondary.
			mv.Kind, mv.Primary, mv.Secondary = allocator.MoveFailover, replSecondary(recs[mv.Instance]), p.Name
			return mv, true
		case api.EvacuateSecondaryOnly:
			return mv, !isPrimary
		}
		return mv, true
	}
	res := api.MovesResult{InitialScore: plan.InitialScore, FinalScore: plan.FinalScore}
	reps, ops, err := m.opsOf(ctx, recs, plan.Moves, keep)
	if err != nil {
		return api.MovesResult{}, nil, err
	}
	res.Moves = reps
	for _, f := range plan.Unmovable {
		isPrimary := recs[f.Instance].PrimaryNode == p.Name
		if p.Mode == api.EvacuateSecondaryOnly && isPrimary || p.Mode == api.EvacuatePrimaryOnly && !isPrimary {
			continue
		}
		res.Unmovable = append(res.Unmovable, fmt.Sprintf("%s: %s", f.Instance, f.Error))
	}
	return res, ops, nil
}

// planNodeMove: every drbd instance whose primary is the node goes to its
// secondary; node migrate migrates the running ones (and fails the stopped
// ones over), node failover fails them all over.
func (m *Master) planNodeMove(ctx context.Context, raw json.RawMessage, failover bool) (api.MovesResult, []api.OpCode, error) {
	p, err := parseOp[api.NodeMigrate](raw)
	if err != nil {
		return api.MovesResult{}, nil, err
	}
	if _, err := m.nodeRecord(ctx, p.Name); err != nil {
		return api.MovesResult{}, nil, err
	}
	_, recs, err := m.moveSnapshot(ctx)
	if err != nil {
		return api.MovesResult{}, nil, err
	}
	var res api.MovesResult
	var ops []api.OpCode
	for _, name := range instancesOn(recs, p.Name) {
		rec := recs[name]
		if rec.PrimaryNode != p.Name {
			continue
		}
		if rec.DiskTemplate != "drbd" {
			res.Unmovable = append(res.Unmovable, fmt.Sprintf("%s: disk template %s has no secondary to move to", name, rec.DiskTemplate))
			continue
		}
		mv := allocator.Move{Instance: name, Kind: allocator.MoveFailover, FromPrimary: p.Name, FromSecondary: replSecondary(rec),
			Primary: replSecondary(rec), Secondary: p.Name}
		if failover {
			ops = append(ops, api.OpCode{Kind: opInstanceFailoverKind, Params: nameParams(name)})
		} else {
			o, err := m.moveOps(ctx, rec, mv)
			if err != nil {
				return api.MovesResult{}, nil, err
			}
			ops = append(ops, o...)
		}
		res.Moves = append(res.Moves, moveReport(mv))
	}
	return res, ops, nil
}

// planBalance: the allocator's balance plan (hbal's moves); with dry_run
// only the plan.
func (m *Master) planBalance(ctx context.Context, raw json.RawMessage) (api.MovesResult, []api.OpCode, error) {
	p, err := parseOp[api.ClusterBalance](raw)
	if err != nil {
		return api.MovesResult{}, nil, err
	}
	c, recs, err := m.moveSnapshot(ctx)
	if err != nil {
		return api.MovesResult{}, nil, err
	}
	maxMoves := p.MaxMoves
	if maxMoves == 0 {
		maxMoves = balanceMaxMoves
	}
	plan := c.Balance(allocator.BalanceOptions{MaxMoves: maxMoves})
	var skipped []string
	reps, ops, err := m.opsOf(ctx, recs, plan.Moves, func(mv allocator.Move) (allocator.Move, bool) {
		// Moves that are not failovers and secondary replacements of a
		// drbd instance (a move of both nodes at once) are not carried out.
		if mv.Kind == allocator.MoveReplacePrimaryAll || recs[mv.Instance].DiskTemplate != "drbd" {
			skipped = append(skipped, fmt.Sprintf("%s: move %s is not carried out (only failovers and secondary replacements of drbd instances)", mv.Instance, mv.Short()))
			return mv, false
		}
		return mv, true
	})
	if err != nil {
		return api.MovesResult{}, nil, err
	}
	res := api.MovesResult{Moves: reps, Unmovable: skipped, InitialScore: plan.InitialScore, FinalScore: plan.FinalScore}
	if p.DryRun {
		return res, nil, nil
	}
	return res, ops, nil
}

// balanceMaxMoves caps a balance without --max-moves so that its opcodes fit
// one job (a move takes up to three).
const balanceMaxMoves = 30
