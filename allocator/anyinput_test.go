package allocator_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/drover-project/drover/allocator"
)

// Invariants that must hold for every request on any cluster the parser or
// NewCluster accepts, however odd: checkAnyInput runs every request kind and
// returns the first violation. Like check_test.go it re-derives what it
// checks instead of trusting the allocator.

// ledger follows free memory and disk as the allocator sees them (the
// snapshot's values, which need not match the placement) through moves.
type ledger struct {
	spec     allocator.Spec
	node     map[string]allocator.Node
	mem, dsk map[string]int64
	inst     map[string]allocator.Instance
}

func newLedger(c *allocator.Cluster) *ledger {
	l := &ledger{spec: c.Spec(), node: map[string]allocator.Node{}, mem: map[string]int64{}, dsk: map[string]int64{},
		inst: map[string]allocator.Instance{}}
	for _, n := range l.spec.Nodes {
		l.node[n.Name], l.mem[n.Name], l.dsk[n.Name] = n, n.FreeMem, n.FreeDisk
	}
	for _, in := range l.spec.Instances {
		l.inst[in.Name] = in
	}
	return l
}

func (l *ledger) groupUnallocable(n allocator.Node) bool {
	for _, g := range l.spec.Groups {
		if g.Name == n.Group {
			return g.AllocPolicy == "unallocable"
		}
	}
	return false
}

// place moves (or, when new, adds) instance in to (p, s) and checks that
// every node newly taking a role may take it and has the room.
func (l *ledger) place(in allocator.Instance, p, s string) error {
	old, existed := l.inst[in.Name]
	if !existed {
		old = in
		old.Primary, old.Secondary = "", ""
	}
	if p == "" || p == s {
		return fmt.Errorf("%s: placed on %q:%q", in.Name, p, s)
	}
	if in.Template == allocator.TemplateDRBD && s == "" && (!existed || old.Secondary != "") {
		return fmt.Errorf("%s: DRBD instance lost its secondary", in.Name)
	}
	if in.Template != allocator.TemplateDRBD && s != "" && s != old.Secondary {
		return fmt.Errorf("%s: %s instance got a secondary %s", in.Name, in.Template, s)
	}
	for _, n := range []string{p, s} {
		if n == "" || n == old.Primary || n == old.Secondary {
			continue
		}
		node, ok := l.node[n]
		if !ok {
			return fmt.Errorf("%s: unknown node %q", in.Name, n)
		}
		if node.Offline || node.Drained || l.groupUnallocable(node) {
			return fmt.Errorf("%s: placed on offline, drained or unallocable node %s", in.Name, n)
		}
	}
	if runningMem(in) > 0 {
		if old.Primary != "" {
			l.mem[old.Primary] += in.Mem
		}
		l.mem[p] -= in.Mem
		if p != old.Primary && l.mem[p] < 0 {
			return fmt.Errorf("%s: node %s memory overcommitted (%d MiB free)", in.Name, p, l.mem[p])
		}
	}
	if localDisk(in.Template) {
		for _, n := range []string{old.Primary, old.Secondary} {
			if n != "" {
				l.dsk[n] += in.Disk
			}
		}
		for _, n := range []string{p, s} {
			if n == "" {
				continue
			}
			l.dsk[n] -= in.Disk
			if n != old.Primary && n != old.Secondary && l.dsk[n] < 0 {
				return fmt.Errorf("%s: node %s disk overcommitted (%d MiB free)", in.Name, n, l.dsk[n])
			}
		}
	}
	in.Primary, in.Secondary = p, s
	l.inst[in.Name] = in
	return nil
}

// moves replays a plan on the ledger: each move starts where the instance is.
func (l *ledger) moves(ms []allocator.Move) error {
	for k, m := range ms {
		in, ok := l.inst[m.Instance]
		if !ok {
			return fmt.Errorf("move %d: unknown instance %s", k, m.Instance)
		}
		if in.Primary != m.FromPrimary || in.Secondary != m.FromSecondary {
			return fmt.Errorf("move %d: %s is on %s:%s, the move says %s:%s", k, m.Instance, in.Primary, in.Secondary,
				m.FromPrimary, m.FromSecondary)
		}
		if err := l.place(in, m.Primary, m.Secondary); err != nil {
			return fmt.Errorf("move %d: %w", k, err)
		}
	}
	return nil
}

// same reports whether the ledger's placement is the cluster's.
func (l *ledger) same(c *allocator.Cluster) error {
	got := c.Instances()
	if len(got) != len(l.inst) {
		return fmt.Errorf("result cluster has %d instances, want %d", len(got), len(l.inst))
	}
	for _, in := range got {
		w := l.inst[in.Name]
		if w.Primary != in.Primary || w.Secondary != in.Secondary {
			return fmt.Errorf("result cluster has %s on %s:%s, the plan leads to %s:%s", in.Name, in.Primary,
				in.Secondary, w.Primary, w.Secondary)
		}
	}
	return nil
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "json: " + err.Error()
	}
	return string(b)
}

var anyTemplates = []allocator.DiskTemplate{allocator.TemplateDRBD, allocator.TemplatePlain,
	allocator.TemplateFile, allocator.TemplateDiskless, allocator.TemplateSharedFile}

// checkAnyInput runs allocate, multi-allocate, relocate, evacuate, balance and
// capacity on c and checks their results.
func checkAnyInput(c *allocator.Cluster) error {
	for _, t := range anyTemplates {
		if err := checkAllocate(c, t); err != nil {
			return fmt.Errorf("allocate %s: %w", t, err)
		}
	}
	if err := checkMulti(c); err != nil {
		return fmt.Errorf("multi-allocate: %w", err)
	}
	for k, in := range c.Instances() {
		if k >= 6 {
			break
		}
		if err := checkRelocate(c, in.Name); err != nil {
			return fmt.Errorf("relocate %s: %w", in.Name, err)
		}
	}
	for k, n := range c.Nodes() {
		if k >= 4 {
			break
		}
		if err := checkEvacuate(c, n.Name); err != nil {
			return fmt.Errorf("evacuate %s: %w", n.Name, err)
		}
	}
	for _, max := range []int{0, 3} {
		if err := checkBalance(c, allocator.BalanceOptions{MaxMoves: max}); err != nil {
			return fmt.Errorf("balance (max %d moves): %w", max, err)
		}
	}
	for _, tiered := range []bool{false, true} {
		if err := checkCapacity(c, tiered); err != nil {
			return fmt.Errorf("capacity (tiered %v): %w", tiered, err)
		}
	}
	return nil
}

func checkAllocate(c *allocator.Cluster, t allocator.DiskTemplate) error {
	req := allocator.AllocateRequest{Name: "fresh-instance", Mem: 1024, Disk: 10240, VCPUs: 1, Template: t,
		Tags: []string{"svc:1"}}
	res, err := c.Allocate(req)
	again, err2 := c.Allocate(req)
	if jsonOf(res) != jsonOf(again) || (err == nil) != (err2 == nil) {
		return fmt.Errorf("two runs differ: %s / %s", jsonOf(res), jsonOf(again))
	}
	if err != nil {
		if !errors.Is(err, allocator.ErrNoFit) {
			return fmt.Errorf("unexpected error: %w", err)
		}
		return nil
	}
	l := newLedger(c)
	in := allocator.Instance{Name: req.Name, Mem: req.Mem, Disk: req.Disk, VCPUs: req.VCPUs, Template: t,
		RunState: allocator.StateRunning}
	if err := l.place(in, res.Primary, res.Secondary); err != nil {
		return err
	}
	if t == allocator.TemplateDRBD && res.Secondary == "" {
		return fmt.Errorf("DRBD instance without a secondary")
	}
	return l.same(res.Cluster)
}

func checkMulti(c *allocator.Cluster) error {
	var reqs []allocator.AllocateRequest
	for k := range 5 {
		reqs = append(reqs, allocator.AllocateRequest{Name: fmt.Sprint("multi-", k), Mem: 512 * int64(k+1),
			Disk: 4096, VCPUs: 1 + k%2, Template: anyTemplates[k%len(anyTemplates)]})
	}
	res, err := c.MultiAllocate(reqs)
	if err != nil {
		return fmt.Errorf("unexpected error: %w", err)
	}
	if len(res.Allocated)+len(res.Failed) != len(reqs) {
		return fmt.Errorf("%d allocated + %d failed of %d", len(res.Allocated), len(res.Failed), len(reqs))
	}
	l := newLedger(c)
	for _, a := range res.Allocated {
		var r allocator.AllocateRequest
		for _, q := range reqs {
			if q.Name == a.Instance {
				r = q
			}
		}
		in := allocator.Instance{Name: r.Name, Mem: r.Mem, Disk: r.Disk, VCPUs: r.VCPUs, Template: r.Template,
			RunState: allocator.StateRunning}
		if err := l.place(in, a.Primary, a.Secondary); err != nil {
			return err
		}
	}
	return l.same(res.Cluster)
}

func checkRelocate(c *allocator.Cluster, name string) error {
	plan, err := c.Relocate(name)
	if err != nil {
		if !errors.Is(err, allocator.ErrNoFit) && !errors.Is(err, allocator.ErrNotMovable) {
			return fmt.Errorf("unexpected error: %w", err)
		}
		return nil
	}
	l := newLedger(c)
	if err := l.moves(plan.Moves); err != nil {
		return err
	}
	return l.same(plan.Cluster)
}

func checkEvacuate(c *allocator.Cluster, node string) error {
	res, err := c.Evacuate(node)
	if err != nil {
		return fmt.Errorf("unexpected error: %w", err)
	}
	again, _ := c.Evacuate(node)
	if jsonOf(res) != jsonOf(again) {
		return fmt.Errorf("two runs differ")
	}
	l := newLedger(c)
	if err := l.moves(res.Moves); err != nil {
		return err
	}
	left := map[string]bool{}
	for _, u := range res.Unmovable {
		left[u.Instance] = true
	}
	for _, in := range l.inst {
		if (in.Primary == node || in.Secondary == node) && !left[in.Name] {
			return fmt.Errorf("%s is still on %s and not listed as unmovable", in.Name, node)
		}
	}
	return l.same(res.Cluster)
}

func checkBalance(c *allocator.Cluster, opt allocator.BalanceOptions) error {
	plan := c.Balance(opt)
	if again := c.Balance(opt); jsonOf(plan) != jsonOf(again) {
		return fmt.Errorf("two runs differ")
	}
	if opt.MaxMoves > 0 && len(plan.Moves) > opt.MaxMoves {
		return fmt.Errorf("%d moves, at most %d asked", len(plan.Moves), opt.MaxMoves)
	}
	l := newLedger(c)
	for k, m := range plan.Moves {
		in := l.inst[m.Instance]
		if in.Template != allocator.TemplateDRBD || in.Secondary == "" {
			return fmt.Errorf("move %d moves %s instance %s (secondary %q)", k, in.Template, in.Name, in.Secondary)
		}
	}
	if err := l.moves(plan.Moves); err != nil {
		return err
	}
	if plan.FinalScore > plan.InitialScore+1e-9 {
		return fmt.Errorf("score rose from %v to %v", plan.InitialScore, plan.FinalScore)
	}
	if got := plan.Cluster.Score(); !near(got, plan.FinalScore) {
		return fmt.Errorf("result cluster scores %v, the plan says %v", got, plan.FinalScore)
	}
	return l.same(plan.Cluster)
}

func checkCapacity(c *allocator.Cluster, tiered bool) error {
	req := allocator.CapacityRequest{Template: allocator.TemplateDRBD, Mem: 2048, Disk: 8192, VCPUs: 2,
		Tiered: tiered, MaxInstances: 25}
	res, err := c.Capacity(req)
	if err != nil {
		return fmt.Errorf("unexpected error: %w", err)
	}
	if again, _ := c.Capacity(req); jsonOf(res) != jsonOf(again) {
		return fmt.Errorf("two runs differ")
	}
	if res.Total > req.MaxInstances {
		return fmt.Errorf("%d instances, at most %d asked", res.Total, req.MaxInstances)
	}
	sum := 0
	for _, t := range res.Tiers {
		sum += t.Count
	}
	if sum != res.Total || res.FailReason == "" {
		return fmt.Errorf("tiers sum to %d, total %d, reason %q", sum, res.Total, res.FailReason)
	}
	l := newLedger(c)
	before := map[string]bool{}
	for _, in := range c.Instances() {
		before[in.Name] = true
	}
	added := 0
	for _, in := range res.Cluster.Instances() {
		if before[in.Name] {
			continue
		}
		added++
		if err := l.place(in, in.Primary, in.Secondary); err != nil {
			return err
		}
	}
	if added != res.Total {
		return fmt.Errorf("result cluster has %d new instances, total says %d", added, res.Total)
	}
	return nil
}
