package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// batchParallel is how many node commands one batch has in flight.
const batchParallel = 32

// opInstanceBatchCreate creates many instances in one job (gnt-instance
// batch-create): reserve every record, then create and start them on their
// nodes in parallel, then commit them together. Each instance is created
// whole or undone. The job succeeds when at least one instance was created;
// its result lists the instances created and those that were not (the log
// says why), and it fails only when none was.
func (m *Master) opInstanceBatchCreate() jobs.Kind {
	return jobs.Kind{
		Name: api.OpInstanceBatchCreate,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parseOp[api.InstanceBatchCreate](raw)
			if err != nil {
				return err
			}
			names := make([]string, len(p.Instances))
			for i, a := range p.Instances {
				names[i] = a.Name
			}
			return m.checkNewNames(ctx, names)
		},
		Locks: func(raw json.RawMessage) []string {
			var p api.InstanceBatchCreate
			_ = json.Unmarshal(raw, &p)
			var locks []string
			nodes := map[string]bool{}
			for _, a := range p.Instances {
				locks = append(locks, instanceLock(a.Name))
				n := "node/" + a.Node
				if a.Node == "" {
					n = lockNodeAlloc
				}
				if !nodes[n] {
					nodes[n] = true
					locks = append(locks, n)
				}
			}
			return locks
		},
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parseOp[api.InstanceBatchCreate](raw)
			if err != nil {
				return nil, err
			}
			b := &batch{m: m, adds: p.Instances}
			return []jobs.Step{
				{Name: "reserve", Run: b.reserve},
				{Name: "create", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					return b.onNodes(ctx, sc, "create", func(api.InstanceAdd) bool { return true })
				}},
				{Name: "start", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					return b.onNodes(ctx, sc, "start", func(a api.InstanceAdd) bool { return !a.NoStart })
				}},
				{Name: "commit", Run: b.commit},
			}, nil
		},
	}
}

// batch is one instance.batch_create opcode. What each step did is read
// back from etcd (the records this job holds), so every step can run again.
type batch struct {
	m         *Master
	adds      []api.InstanceAdd
	ratio     float64                         // the cluster's vcpu ratio, once read
	templates map[string]*keys.TemplateRecord // templates resolved, by reference
}

// reserveOne checks one instance as instance.add does (and its memory
// against what the batch already put on its node) and writes its record.
func (b *batch) reserveOne(ctx context.Context, sc *jobs.StepContext, fence store.Fence, macPrefix string, p api.InstanceAdd, planned map[string]int64) (*keys.InstanceRecord, error) {
	m := b.m
	if err := m.checkNewName(ctx, p.Name); err != nil {
		return nil, err
	}
	if isBlockTemplate(p.DiskTemplate) {
		return nil, api.Errorf(api.CodeWrongInput, "instance %s: batch create makes no %s disks (use instance add)", p.Name, p.DiskTemplate)
	}
	if p.Node == "" {
		node, _, err := m.allocateNode(ctx, p)
		if err != nil {
			return nil, err
		}
		p.Node = node
	}
	hv, t, err := m.checkAddTarget(ctx, p)
	if err != nil {
		return nil, err
	}
	// checkAddTarget read the node's status just now (the cache is current).
	if st := m.cache.nodeStatus(p.Node); st != nil && !p.NoStart && st.Resources.MemoryTotalMiB > 0 &&
		st.Resources.MemoryFreeMiB-planned[p.Node] < p.MemoryMiB {
		return nil, api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB memory free after the batch's other instances, instance needs %d",
			p.Node, st.Resources.MemoryFreeMiB-planned[p.Node], p.MemoryMiB)
	}
	macs, err := allocMACs(ctx, sc.Client, macPrefix, len(p.NICs))
	if err != nil {
		return nil, err
	}
	rec := newInstanceRecord(p, hv, t, macs, sc.JobID)
	var tx store.Txn
	if err := createInstanceRecord(&tx, rec); err != nil {
		return nil, err
	}
	if _, err := fence.Commit(ctx, m.client, &tx); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, api.Errorf(api.CodeAlreadyExists, "instance %q already exists", p.Name)
		}
		return nil, err
	}
	return &rec, nil
}

// record reads the record of name when this job holds it (nil otherwise).
func (b *batch) record(ctx context.Context, sc *jobs.StepContext, name string) (*keys.InstanceRecord, error) {
	var rec keys.InstanceRecord
	if _, err := store.GetJSON(ctx, sc.Client, keys.InstanceKey(name), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, unavailable("read instance", err)
	}
	if rec.CreatingJob != sc.JobID {
		return nil, nil
	}
	return &rec, nil
}

// onNodes runs the create (or start) command of every instance this job
// holds and want selects, batchParallel at a time; the instances whose
// command failed are undone one after the other.
func (b *batch) onNodes(ctx context.Context, sc *jobs.StepContext, step string, want func(api.InstanceAdd) bool) error {
	type failure struct {
		rec *keys.InstanceRecord
		err error
	}
	var mu sync.Mutex
	var failed []failure
	done := 0
	sem := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	held, err := b.heldRecords(ctx, sc)
	if err != nil {
		return err
	}
	for _, p := range b.adds {
		if !want(p) || held[p.Name] == nil {
			continue // not wanted, not reserved, or undone
		}
		rec := &held[p.Name].rec
		c := nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceStart, Instance: *rec}
		if step == "create" {
			t, err := b.m.resolveTemplate(ctx, fmt.Sprintf("%s@%d", rec.OS, rec.OSVersion))
			if err != nil {
				return err
			}
			c.Kind, c.Template, c.Timeout = keys.CmdInstanceCreate, t, cmdTimeoutInstall
		}
		c.ID, c.JobID, c.Step = stepCmdID(sc, step, rec.UUID), sc.JobID, fmt.Sprintf("%d/%s", sc.Op, step)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := b.m.runNodeCmd(ctx, sc.Epoch, c)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, failure{rec, err})
			} else {
				done++
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err // leadership ended: the next leader runs the step again
	}
	for _, f := range failed {
		err := b.m.undoAdd(ctx, sc, f.rec, step, f.err)
		sc.Logf("instance %s not created: %s", f.rec.Name, api.AsError(err).Message)
	}
	sc.Logf("%s: %d instances done, %d failed", step, done, len(failed))
	return nil
}

// commit marks every instance this job holds as created, atomically with
// the step's checkpoint (so a re-run never meets its own commit); the result
// lists what was created and what was not.
func (b *batch) commit(ctx context.Context, sc *jobs.StepContext) error {
	var res api.InstanceBatchResult
	held, err := b.heldRecords(ctx, sc)
	if err != nil {
		return err
	}
	for _, p := range b.adds {
		h := held[p.Name]
		if h == nil {
			res.Failed = append(res.Failed, p.Name) // not reserved (the name was taken) or undone
			continue
		}
		rec, rev := h.rec, h.rev
		rec.CreatingJob, rec.AdminUp = 0, !p.NoStart
		put, err := store.PutJSON(keys.InstanceKey(p.Name), rec)
		if err != nil {
			return err
		}
		sc.If(store.Unchanged(keys.InstanceKey(p.Name), rev))
		sc.Then(put)
		res.Created = append(res.Created, p.Name)
	}
	sc.Logf("%d of %d instances added", len(res.Created), len(b.adds))
	if err := sc.SetResult(res); err != nil {
		return err
	}
	if len(res.Failed) > 0 && len(res.Created) == 0 {
		return api.Errorf(api.CodeWrongState, "none of the %d instances was created (the job log says why)", len(b.adds))
	}
	return nil
}
