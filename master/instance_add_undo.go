package master

import (
	"context"
	"errors"
	"fmt"
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
	var tx store.Txn
	deleteNamed(&tx, keys.InstancesPrefix, rec.Name, rev)
	tx.Then(m.ownDomainDelete(ctx, rec.PrimaryNode, rec)...)
	_, err = fence.Commit(ctx, m.client, &tx)
	return err
}
