package master

import (
	"context"
	"errors"
	"strings"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// reserveChunk is how many records one reserve transaction creates: each
// takes two compares and two puts (record, name key), and etcd refuses a
// transaction of more than 128 of either (--max-txn-ops).
const reserveChunk = 60

// batchFacts is what the checks of a batch read about the cluster, at one
// consistent point of the state cache.
type batchFacts struct {
	nodes  map[string]*keys.NodeRecord
	status map[string]*keys.NodeStatus // the batch's nodes whose agent holds a lease
	vcpus  map[string]int              // vcpus of the primaries of each of the batch's nodes
	taken  map[string]bool             // every instance name, lower case
	held   map[string]*keys.InstanceRecord
}

// batchFacts reads, for the instances of one batch job, everything their
// checks need from the state cache after one consistent read; false when
// the cache is not current (the caller checks one by one against etcd).
func (c *stateCache) batchFacts(ctx context.Context, m *Master, adds []api.InstanceAdd, job uint64) (*batchFacts, bool) {
	if !c.sync(ctx, m.client) {
		return nil, false
	}
	f := &batchFacts{nodes: map[string]*keys.NodeRecord{}, status: map[string]*keys.NodeStatus{},
		vcpus: map[string]int{}, held: map[string]*keys.InstanceRecord{}}
	c.mu.RLock()
	defer c.mu.RUnlock()
	f.taken = make(map[string]bool, len(c.instances))
	for _, p := range adds {
		if r := c.instances[p.Name]; r != nil && r.CreatingJob == job {
			f.held[p.Name] = r
		}
		if p.Node == "" {
			continue
		}
		if r := c.nodes[p.Node]; r != nil {
			f.nodes[p.Node] = r
		}
		if st := c.status[p.Node]; st != nil {
			f.status[p.Node] = st
		}
		f.vcpus[p.Node] = 0
	}
	for name, r := range c.instances {
		f.taken[strings.ToLower(name)] = true
		if _, ok := f.vcpus[r.PrimaryNode]; ok {
			f.vcpus[r.PrimaryNode] += r.VCPUs
		}
	}
	return f, true
}

// accepted is an instance of a batch that passed its checks.
type accepted struct {
	p  api.InstanceAdd
	hv string
	t  *keys.TemplateRecord
}

// reserve writes the record of each instance that passes the checks of
// instance.add (against the cluster and the batch's other instances); an
// instance that fails is logged and left out. The checks read the state
// cache once for the whole batch, the MACs come from one allocation, and
// the records are written in fenced transactions of reserveChunk; the
// instances that the allocator places, and every instance when the cache
// is not current, go one by one (reserveOne).
func (b *batch) reserve(ctx context.Context, sc *jobs.StepContext) error {
	fence, err := b.m.fenceOf(ctx, sc.Epoch)
	if err != nil {
		return err
	}
	var cr keys.ClusterRecord
	if _, err := store.GetJSON(ctx, sc.Client, keys.ClusterKey, &cr); err != nil {
		return unavailable("read cluster", err)
	}
	pl := &batchPlanned{mem: map[string]int64{}, vcpus: map[string]int{}}
	reserved, alone := 0, b.adds
	if f, ok := b.m.cache.batchFacts(ctx, b.m, b.adds, sc.JobID); ok {
		alone = nil
		var ok []accepted
		for _, p := range b.adds {
			switch {
			case f.held[p.Name] != nil:
				pl.add(f.held[p.Name].PrimaryNode, f.held[p.Name].MemoryMiB, f.held[p.Name].VCPUs)
				reserved++ // reserved by an earlier run of this step
			case p.Node == "":
				alone = append(alone, p)
			default:
				a, err := b.check(ctx, f, pl, p)
				if err != nil {
					sc.Logf("instance %s not created: %s", p.Name, api.AsError(err).Message)
					continue
				}
				f.taken[strings.ToLower(p.Name)] = true
				pl.add(p.Node, p.MemoryMiB, p.VCPUs)
				ok = append(ok, a)
			}
		}
		n, err := b.writeRecords(ctx, sc, fence, cr.MACPrefix, ok)
		if err != nil {
			return err
		}
		reserved += n
	}
	for _, p := range alone {
		if rec, _ := b.record(ctx, sc, p.Name); rec != nil {
			pl.add(rec.PrimaryNode, rec.MemoryMiB, rec.VCPUs)
			reserved++
			continue
		}
		rec, err := b.reserveOne(ctx, sc, fence, cr.MACPrefix, p, pl.mem)
		if errors.Is(err, store.ErrFenced) || ctx.Err() != nil {
			return jobs.ErrLeadershipLost
		}
		if err != nil {
			sc.Logf("instance %s not created: %s", p.Name, api.AsError(err).Message)
			continue
		}
		pl.add(rec.PrimaryNode, rec.MemoryMiB, rec.VCPUs)
		reserved++
	}
	sc.Logf("%d of %d instances reserved", reserved, len(b.adds))
	return nil
}

// batchPlanned is what a batch already put on each node: memory and vcpus.
type batchPlanned struct {
	mem   map[string]int64
	vcpus map[string]int
}

func (pl *batchPlanned) add(node string, mem int64, vcpus int) {
	pl.mem[node] += mem
	pl.vcpus[node] += vcpus
}

// check makes the checks of instance.add for p from the batch's facts and
// what the batch put on p's node before it (pl).
func (b *batch) check(ctx context.Context, f *batchFacts, pl *batchPlanned, p api.InstanceAdd) (accepted, error) {
	if f.taken[strings.ToLower(p.Name)] {
		return accepted{}, api.Errorf(api.CodeAlreadyExists, "instance %q already exists (names are compared without regard to case)", p.Name)
	}
	if isBlockTemplate(p.DiskTemplate) {
		return accepted{}, api.Errorf(api.CodeWrongInput, "instance %s: batch create makes no %s disks (use instance add)", p.Name, p.DiskTemplate)
	}
	rec := f.nodes[p.Node]
	if rec == nil {
		return accepted{}, api.Errorf(api.CodeUnknownEntity, "node %q not found", p.Node)
	}
	if err := nodeTakesAdd(p.Node, rec); err != nil {
		return accepted{}, err
	}
	st := f.status[p.Node]
	if st == nil {
		return accepted{}, errUnreachable(p.Node)
	}
	hv, err := statusTakesAdd(p, st)
	if err != nil {
		return accepted{}, err
	}
	if res := st.Resources; !p.NoStart && res.MemoryTotalMiB > 0 && res.MemoryFreeMiB-pl.mem[p.Node] < p.MemoryMiB {
		return accepted{}, api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB memory free after the batch's other instances, instance needs %d",
			p.Node, res.MemoryFreeMiB-pl.mem[p.Node], p.MemoryMiB)
	}
	t, err := b.template(ctx, p.OS)
	if err != nil {
		return accepted{}, err
	}
	if err := checkAddOS(p, t, st); err != nil {
		return accepted{}, err
	}
	if err := addFitsStatic(p, hv, st, t); err != nil {
		return accepted{}, err
	}
	if b.ratio == 0 {
		if b.ratio, err = b.m.vcpuRatio(ctx); err != nil {
			return accepted{}, err
		}
	}
	if err := vcpusFit(p.Node, st.Resources.CPUs, f.vcpus[p.Node]+pl.vcpus[p.Node], p.VCPUs, b.ratio); err != nil {
		return accepted{}, err
	}
	return accepted{p: p, hv: hv, t: t}, nil
}

// template resolves ref once per batch.
func (b *batch) template(ctx context.Context, ref string) (*keys.TemplateRecord, error) {
	if t, ok := b.templates[ref]; ok {
		return t, nil
	}
	t, err := b.m.resolveTemplate(ctx, ref)
	if err != nil {
		return nil, err // not kept: unavailable may pass
	}
	if b.templates == nil {
		b.templates = map[string]*keys.TemplateRecord{}
	}
	b.templates[ref] = t
	return t, nil
}

// writeRecords gives the accepted instances their MACs (one allocation)
// and writes their records, reserveChunk to a fenced transaction. A
// transaction that fails on a record (its name was taken since the checks)
// is written again one record a transaction, so that only that instance is
// left out. It returns how many records it wrote.
func (b *batch) writeRecords(ctx context.Context, sc *jobs.StepContext, fence store.Fence, macPrefix string, ok []accepted) (int, error) {
	nics := 0
	for _, a := range ok {
		nics += len(a.p.NICs)
	}
	macs, err := allocMACs(ctx, sc.Client, macPrefix, nics)
	if err != nil {
		for _, a := range ok {
			sc.Logf("instance %s not created: %s", a.p.Name, api.AsError(err).Message)
		}
		return 0, nil
	}
	recs := make([]keys.InstanceRecord, len(ok))
	for i, a := range ok {
		n := len(a.p.NICs)
		recs[i], macs = newInstanceRecord(a.p, a.hv, a.t, macs[:n], sc.JobID), macs[n:]
	}
	written := 0
	for start := 0; start < len(recs); start += reserveChunk {
		chunk := recs[start:min(start+reserveChunk, len(recs))]
		err := b.commitRecords(ctx, fence, chunk)
		if err == nil {
			written += len(chunk)
			continue
		}
		if errors.Is(err, store.ErrFenced) || ctx.Err() != nil {
			return 0, jobs.ErrLeadershipLost
		}
		for _, rec := range chunk {
			err := b.commitRecords(ctx, fence, []keys.InstanceRecord{rec})
			switch {
			case errors.Is(err, store.ErrFenced) || ctx.Err() != nil:
				return 0, jobs.ErrLeadershipLost
			case err != nil && b.holds(ctx, sc, rec.Name):
				written++ // the failed chunk's transaction was applied after all
			case errors.Is(err, store.ErrConflict):
				sc.Logf("instance %s not created: instance %q already exists", rec.Name, rec.Name)
			case err != nil:
				sc.Logf("instance %s not created: %s", rec.Name, api.AsError(err).Message)
			default:
				written++
			}
		}
	}
	return written, nil
}

// commitRecords creates recs (and their name keys) in one fenced
// transaction.
func (b *batch) commitRecords(ctx context.Context, fence store.Fence, recs []keys.InstanceRecord) error {
	var tx store.Txn
	for _, rec := range recs {
		if err := createInstanceRecord(&tx, rec); err != nil {
			return err
		}
	}
	_, err := fence.Commit(ctx, b.m.client, &tx)
	return err
}

// holds says whether this job holds the record of name.
func (b *batch) holds(ctx context.Context, sc *jobs.StepContext, name string) bool {
	rec, _ := b.record(ctx, sc, name)
	return rec != nil
}
