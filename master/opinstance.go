package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/google/uuid"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

func instanceLock(name string) string { return "instance/" + name }

// parseOp decodes raw strictly into a fresh T and validates it.
func parseOp[T interface{ Validate() error }](raw json.RawMessage) (T, error) {
	var p T
	if err := decodeParams(raw, &p); err != nil {
		return p, err
	}
	return p, p.Validate()
}

// instanceKind builds the Kind of an opcode on one existing instance.
func instanceKind[T interface{ Validate() error }](name string, instName func(T) string,
	check func(context.Context, T) error, steps func(T) []jobs.Step) jobs.Kind {
	return jobs.Kind{
		Name: name,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parseOp[T](raw)
			if err != nil {
				return err
			}
			return check(ctx, p)
		},
		Locks: func(raw json.RawMessage) []string { return []string{instanceLock(paramName(raw))} },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parseOp[T](raw)
			if err != nil {
				return nil, err
			}
			return steps(p), nil
		},
	}
}

// macString formats a MAC from the cluster prefix (three octets) and a
// 24-bit sequence number.
func macString(prefix string, seq uint64) string {
	return fmt.Sprintf("%s:%02x:%02x:%02x", prefix, (seq>>16)&0xff, (seq>>8)&0xff, seq&0xff)
}

// maxMACSeq is the last sequence number of a prefix's 24 bits.
const maxMACSeq = 1<<24 - 1

// allocMACs hands out n MACs from the cluster prefix: a CAS on MACSeqKey,
// so two masters never give out one MAC twice.
func allocMACs(ctx context.Context, c *clientv3.Client, prefix string, n int) ([]string, error) {
	if n == 0 {
		return nil, nil
	}
	for attempt := 0; attempt < 50; attempt++ {
		if attempt > 0 {
			// Lost the CAS to another allocation: back off with jitter so
			// that concurrent allocators do not keep colliding.
			d := time.Duration(1+rand.IntN(5*min(attempt, 10))) * time.Millisecond
			select {
			case <-ctx.Done():
				return nil, unavailable("mac allocation", ctx.Err())
			case <-time.After(d):
			}
		}
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := c.Get(tctx, keys.MACSeqKey)
		cancel()
		if err != nil {
			return nil, unavailable("read mac sequence", err)
		}
		var last uint64
		var rev int64
		if len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
			if last, err = strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64); err != nil {
				return nil, fmt.Errorf("mac sequence %q: %w", resp.Kvs[0].Value, err)
			}
		}
		if last+uint64(n) > maxMACSeq {
			return nil, api.Errorf(api.CodeInsufficientResources, "MAC prefix %s exhausted", prefix)
		}
		next := last + uint64(n)
		tctx, cancel = store.WithTimeout(ctx)
		tr, err := c.Txn(tctx).If(store.Unchanged(keys.MACSeqKey, rev)).
			Then(clientv3.OpPut(keys.MACSeqKey, strconv.FormatUint(next, 10))).Commit()
		cancel()
		if err != nil {
			return nil, unavailable("write mac sequence", err)
		}
		if tr.Succeeded {
			out := make([]string, n)
			for i := range out {
				out[i] = macString(prefix, last+1+uint64(i))
			}
			return out, nil
		}
	}
	return nil, api.Errorf(api.CodeUnavailable, "MAC allocation: too much contention")
}

// checkAddTarget checks the node an instance is added to, and the template:
// returns the hypervisor the instance will have and the template record.
func (m *Master) checkAddTarget(ctx context.Context, p api.InstanceAdd) (string, *keys.TemplateRecord, error) {
	if p.Node == "" {
		return "", nil, api.Errorf(api.CodeWrongInput, "no node given")
	}
	rec, err := m.nodeRecord(ctx, p.Node)
	if err != nil {
		return "", nil, err
	}
	switch {
	case rec.Offline:
		return "", nil, api.Errorf(api.CodeWrongState, "node %s is offline", p.Node)
	case rec.Drained:
		return "", nil, api.Errorf(api.CodeWrongState, "node %s is drained", p.Node)
	case !rec.VMCapable:
		return "", nil, api.Errorf(api.CodeWrongState, "node %s is not vm_capable", p.Node)
	}
	_, st, err := m.nodeUsable(ctx, p.Node)
	if err != nil {
		return "", nil, err
	}
	hv := st.Hypervisor
	if p.Hypervisor != "" && p.Hypervisor != hv {
		return "", nil, api.Errorf(api.CodeWrongInput, "hypervisor %s asked, node %s runs %s", p.Hypervisor, p.Node, hv)
	}
	if !st.HypervisorOK {
		return "", nil, api.Errorf(api.CodeWrongState, "node %s reports its hypervisor %s as failed", p.Node, hv)
	}
	res := st.Resources
	if !p.NoStart && res.MemoryTotalMiB > 0 && res.MemoryFreeMiB < p.MemoryMiB {
		return "", nil, api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB memory free, instance needs %d", p.Node, res.MemoryFreeMiB, p.MemoryMiB)
	}
	var disk int64
	for _, d := range p.Disks {
		disk += d.SizeMiB
	}
	if res.DiskTotalMiB > 0 && res.DiskFreeMiB < disk {
		return "", nil, api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB disk free, instance needs %d", p.Node, res.DiskFreeMiB, disk)
	}
	t, err := m.resolveTemplate(ctx, p.OS)
	if err != nil {
		return "", nil, err
	}
	if err := m.checkAddFit(ctx, p, hv, st, t); err != nil {
		return "", nil, err
	}
	return hv, t, nil
}

// checkNewName refuses a name an instance has (or is being created with),
// compared without regard to case.
func (m *Master) checkNewName(ctx context.Context, name string) error {
	return m.checkNameFree(ctx, "instance", keys.InstancesPrefix, name)
}

func (m *Master) opInstanceAdd() jobs.Kind {
	return jobs.Kind{
		Name: api.OpInstanceAdd,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parseOp[api.InstanceAdd](raw)
			if err != nil {
				return err
			}
			if err := m.checkNewName(ctx, p.Name); err != nil {
				return err
			}
			if p.Node == "" {
				if p.Node, err = m.allocateNode(ctx, p); err != nil {
					return err
				}
			}
			_, _, err = m.checkAddTarget(ctx, p)
			return err
		},
		Locks: func(raw json.RawMessage) []string {
			var p api.InstanceAdd
			_ = json.Unmarshal(raw, &p)
			if p.Node == "" {
				return []string{instanceLock(p.Name), lockNodeAlloc}
			}
			return []string{instanceLock(p.Name), "node/" + p.Node}
		},
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parseOp[api.InstanceAdd](raw)
			if err != nil {
				return nil, err
			}
			steps := []jobs.Step{
				{Name: "reserve", Run: func(ctx context.Context, sc *jobs.StepContext) error { return m.addReserve(ctx, sc, p) }},
				{Name: "create", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, t, err := m.creatingRecord(ctx, sc, p.Name)
					if err != nil {
						return err
					}
					start := time.Now()
					_, err = m.stepCmd(ctx, sc, "create", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceCreate,
						Instance: *rec, Template: t, Timeout: cmdTimeoutInstall})
					if err != nil {
						return m.undoAdd(ctx, sc, rec, "create", err)
					}
					sc.Logf("instance %s created on %s from %s@%d in %.1fs", p.Name, rec.PrimaryNode, rec.OS, rec.OSVersion, time.Since(start).Seconds())
					return nil
				}},
			}
			if !p.NoStart {
				steps = append(steps, jobs.Step{Name: "start", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					rec, _, err := m.creatingRecord(ctx, sc, p.Name)
					if err != nil {
						return err
					}
					if _, err := m.stepCmd(ctx, sc, "start", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceStart, Instance: *rec}); err != nil {
						return m.undoAdd(ctx, sc, rec, "start", err)
					}
					sc.Logf("instance %s started", p.Name)
					return nil
				}})
			}
			steps = append(steps, jobs.Step{Name: "commit", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				var rec keys.InstanceRecord
				rev, err := store.GetJSON(ctx, sc.Client, keys.InstanceKey(p.Name), &rec)
				if err != nil {
					return unavailable("read instance", err)
				}
				rec.CreatingJob, rec.AdminUp = 0, !p.NoStart
				put, err := store.PutJSON(keys.InstanceKey(p.Name), rec)
				if err != nil {
					return err
				}
				sc.If(store.Unchanged(keys.InstanceKey(p.Name), rev))
				sc.Then(put)
				sc.Logf("instance %s added", p.Name)
				st := api.NodeOnline
				return sc.SetResult(instanceView(rec, st, nil))
			}})
			return steps, nil
		},
	}
}

// addReserve checks again, allocates MACs and writes the record marked as
// being created by this job.
func (m *Master) addReserve(ctx context.Context, sc *jobs.StepContext, p api.InstanceAdd) error {
	if err := m.checkNewName(ctx, p.Name); err != nil {
		return err
	}
	if p.Node == "" {
		node, err := m.allocateNode(ctx, p)
		if err != nil {
			return err
		}
		sc.Logf("allocator chose node %s for %s", node, p.Name)
		p.Node = node
	}
	hv, t, err := m.checkAddTarget(ctx, p)
	if err != nil {
		return err
	}
	var cr keys.ClusterRecord
	if _, err := store.GetJSON(ctx, sc.Client, keys.ClusterKey, &cr); err != nil {
		return unavailable("read cluster", err)
	}
	macs, err := allocMACs(ctx, sc.Client, cr.MACPrefix, len(p.NICs))
	if err != nil {
		return err
	}
	rec := keys.InstanceRecord{
		Name: p.Name, UUID: uuid.NewString(), PrimaryNode: p.Node, OS: t.Name, OSVersion: t.Version,
		OSDigest: t.Digest, Hypervisor: hv, DiskTemplate: p.DiskTemplate, VCPUs: p.VCPUs,
		MemoryMiB: p.MemoryMiB, SSHKeys: p.SSHKeys, CreatedAt: time.Now().UTC(), CreatingJob: sc.JobID,
	}
	for _, d := range p.Disks {
		rec.Disks = append(rec.Disks, keys.DiskSpec{SizeMiB: d.SizeMiB})
	}
	for i, n := range p.NICs {
		rec.NICs = append(rec.NICs, keys.NICSpec{MAC: macs[i], Link: n.Link})
	}
	put, err := store.PutJSON(keys.InstanceKey(p.Name), rec)
	if err != nil {
		return err
	}
	sc.If(store.Absent(keys.InstanceKey(p.Name)))
	sc.Then(put)
	sc.Logf("instance %s reserved on node %s (%s, template %s@%d, %d vcpus, %d MiB)", p.Name, p.Node, hv, t.Name, t.Version, p.VCPUs, p.MemoryMiB)
	return nil
}

// creatingRecord reads the record this add job reserved, and its template.
func (m *Master) creatingRecord(ctx context.Context, sc *jobs.StepContext, name string) (*keys.InstanceRecord, *keys.TemplateRecord, error) {
	var rec keys.InstanceRecord
	if _, err := store.GetJSON(ctx, sc.Client, keys.InstanceKey(name), &rec); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, api.Errorf(api.CodeWrongState, "instance %s vanished while being created", name)
		}
		return nil, nil, unavailable("read instance", err)
	}
	if rec.CreatingJob != sc.JobID {
		return nil, nil, api.Errorf(api.CodeWrongState, "instance %s is not being created by job %d", name, sc.JobID)
	}
	t, err := m.resolveTemplate(ctx, fmt.Sprintf("%s@%d", rec.OS, rec.OSVersion))
	if err != nil {
		return nil, nil, err
	}
	return &rec, t, nil
}

// undoAdd removes what a failed add made: the domain and disks on the node
// (best effort when the node is gone) and the record. It returns cause,
// with what was undone.
func (m *Master) undoAdd(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, step string, cause error) error {
	if ctx.Err() != nil {
		return cause // leadership ended: the next leader re-runs the step
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmdTimeoutDefault)
	defer cancel()
	note := "removed from node " + rec.PrimaryNode
	if _, err := m.stepCmd(uctx, sc, "undo-"+step, nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceRemove, Instance: *rec}); err != nil {
		note = fmt.Sprintf("NOT removed from node %s now (%v)", rec.PrimaryNode, api.AsError(err).Message)
		if lerr := m.leaveUndo(uctx, sc.Epoch, rec); lerr == nil {
			note += "; its agent removes it when it is back"
		} else {
			note += fmt.Sprintf("; undo not left for its agent either (%v): `drover cluster repair` removes the orphan", lerr)
		}
	}
	ae := api.AsError(cause)
	if err := m.deleteCreating(uctx, sc.Epoch, rec); err != nil {
		return &api.Error{Code: ae.Code, Message: fmt.Sprintf("%s (undo: %s; record not deleted: %v)", ae.Message, note, err)}
	}
	m.log.Warn("instance_add_undone", "instance", rec.Name, "job_id", sc.JobID, "cause", cause)
	return &api.Error{Code: ae.Code, Message: fmt.Sprintf("%s (undone: %s, record deleted)", ae.Message, note)}
}

// leaveUndo writes, for an agent that did not answer, the remove of what a
// failed add made there, to run when it is back: a command of no job
// (JobID 0, the job is ending), keyed by the instance's UUID, that names the
// UUID so that only this instance's domain and files are removed. The
// leader's watcher deletes it once it is answered.
func (m *Master) leaveUndo(ctx context.Context, epoch int64, rec *keys.InstanceRecord) error {
	fence, err := m.fenceOf(ctx, epoch)
	if err != nil {
		return err
	}
	id := "undo-add-" + rec.UUID
	put, err := store.PutJSON(keys.NodeCommandKey(rec.PrimaryNode, id), keys.NodeCommand{ID: id, Epoch: epoch,
		Kind: keys.CmdInstanceRemove, Instance: *rec, CreatedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	_, err = fence.Txn(ctx, m.client, nil, put)
	return err
}

// deleteCreating deletes the record of an instance being created (fenced,
// and only while it is still marked with the same job).
func (m *Master) deleteCreating(ctx context.Context, epoch int64, rec *keys.InstanceRecord) error {
	fence, err := m.fenceOf(ctx, epoch)
	if err != nil {
		return err
	}
	var cur keys.InstanceRecord
	rev, err := store.GetJSON(ctx, m.client, keys.InstanceKey(rec.Name), &cur)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.CreatingJob != rec.CreatingJob {
		return api.Errorf(api.CodeWrongState, "record of %s changed", rec.Name)
	}
	_, err = fence.Txn(ctx, m.client, []clientv3.Cmp{store.Unchanged(keys.InstanceKey(rec.Name), rev)},
		append(m.ownDomainDelete(ctx, rec.PrimaryNode, rec), clientv3.OpDelete(keys.InstanceKey(rec.Name)))...)
	return err
}
