package master

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// undoAdd removes what a failed add made: the domain and disks on the node
// (best effort when the node is gone) and the record. It returns cause,
// with what was undone.
func (m *Master) undoAdd(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, step string, cause error) error {
	if ctx.Err() != nil {
		return cause // leadership ended: the next leader re-runs the step
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cmdTimeoutDefault)
	defer cancel()
	note := m.undoOnNode(uctx, sc, rec, step)
	ae := api.AsError(cause)
	if err := m.deleteCreating(uctx, sc.Epoch, rec); err != nil {
		return &api.Error{Code: ae.Code, Message: fmt.Sprintf("%s (undo: %s; record not deleted: %v)", ae.Message, note, err)}
	}
	m.log.Warn("instance_add_undone", "instance", rec.Name, "job_id", sc.JobID, "cause", cause)
	return &api.Error{Code: ae.Code, Message: fmt.Sprintf("%s (undone: %s, record deleted)", ae.Message, note)}
}

// undoOnNode removes the domain and disks an add made on its node; when the
// agent does not answer, it leaves the remove for the agent (leaveUndo). It
// says what it did.
func (m *Master) undoOnNode(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, step string) string {
	note := "removed from node " + rec.PrimaryNode
	if _, err := m.stepCmd(ctx, sc, "undo-"+step, nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceRemove, Instance: *rec}); err != nil {
		note = fmt.Sprintf("NOT removed from node %s now (%v)", rec.PrimaryNode, api.AsError(err).Message)
		if lerr := m.leaveUndo(ctx, sc.Epoch, rec); lerr == nil {
			note += "; its agent removes it when it is back"
		} else {
			note += fmt.Sprintf("; undo not left for its agent either (%v): `drover cluster repair` removes the orphan", lerr)
		}
	}
	if isBlockTemplate(rec.DiskTemplate) {
		if failed := m.removeBlockDisks(ctx, sc, rec, "undo-"+step); len(failed) > 0 {
			note += fmt.Sprintf("; disks NOT all removed (%s): their LVs and DRBD resources stay on those nodes", strings.Join(failed, "; "))
		} else {
			note += fmt.Sprintf("; disks removed from %s", strings.Join(diskNodes(rec), ", "))
		}
	}
	return note
}

// undoReserve is the Undo of the add's reserve step (a canceled add): it
// deletes the record this job reserved, with the step's checkpoint.
func (m *Master) undoReserve(ctx context.Context, sc *jobs.StepContext, name string) error {
	r, err := store.Read[keys.InstanceRecord](ctx, sc.Client, keys.InstanceKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return unavailable("read instance", err)
	}
	if r.Value.CreatingJob != sc.JobID {
		return nil // not (or no longer) this job's
	}
	deleteNamed(sc, keys.InstancesPrefix, name, r.Rev)
	sc.Then(m.ownDomainDelete(ctx, r.Value.PrimaryNode, &r.Value)...)
	sc.Logf("record of %s deleted", name)
	return nil
}

// undoCreate is the Undo of the add's create step (a canceled add): it
// removes what the create made on the node.
func (m *Master) undoCreate(ctx context.Context, sc *jobs.StepContext, name string) error {
	rec, _, err := m.creatingRecord(ctx, sc, name)
	if api.CodeOf(err) == api.CodeWrongState {
		return nil // no record of this job: nothing made
	}
	if err != nil {
		return err
	}
	sc.Logf("instance %s %s", name, m.undoOnNode(ctx, sc, rec, "create"))
	return nil
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
	var tx store.Txn
	deleteNamed(&tx, keys.InstancesPrefix, rec.Name, rev)
	tx.Then(m.ownDomainDelete(ctx, rec.PrimaryNode, rec)...)
	_, err = fence.Commit(ctx, m.client, &tx)
	return err
}
