package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/drover-project/drover/api"
)

// SubmitJob implements api.Backend: it validates the opcodes against the
// current nodes and queues the job.
func (b *Backend) SubmitJob(_ context.Context, by api.Principal, sub api.JobSubmit) (uint64, error) {
	if err := sub.Validate(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, api.Errorf(api.CodeUnavailable, "backend closed")
	}
	for i, op := range sub.Ops {
		if err := b.precheckLocked(op); err != nil {
			return 0, fmt.Errorf("op %d (%s): %w", i, op.Kind, err)
		}
	}
	b.seq++
	j := &api.Job{
		ID:         b.seq,
		State:      api.JobQueued,
		Priority:   sub.Priority,
		Submitter:  by.User,
		Ops:        slices.Clone(sub.Ops),
		OpStatus:   make([]api.OpStatus, len(sub.Ops)),
		Log:        []api.JobLogEntry{},
		ReceivedAt: time.Now().UTC(),
	}
	for i, op := range sub.Ops {
		j.OpStatus[i] = api.OpStatus{Kind: op.Kind, State: api.JobQueued}
	}
	b.jobs[j.ID] = j
	b.notifyLocked()
	select {
	case b.queue <- j.ID:
	default:
		delete(b.jobs, j.ID)
		return 0, api.Errorf(api.CodeUnavailable, "job queue full")
	}
	return j.ID, nil
}

// precheckLocked does the checks a master does at submit time.
func (b *Backend) precheckLocked(op api.OpCode) error {
	v, err := api.DecodeOp(op)
	if err != nil {
		return err
	}
	switch p := v.(type) {
	case *api.NodeAdd:
		if _, ok := b.nodes[p.Name]; ok {
			return api.Errorf(api.CodeAlreadyExists, "node %q exists", p.Name)
		}
	case *api.NodeRemove:
		if _, ok := b.nodes[p.Name]; !ok {
			return api.Errorf(api.CodeUnknownEntity, "node %q not found", p.Name)
		}
	case *api.NodeModifyOp:
		if _, ok := b.nodes[p.Name]; !ok {
			return api.Errorf(api.CodeUnknownEntity, "node %q not found", p.Name)
		}
	}
	return nil
}

// GetJob implements api.Backend.
func (b *Backend) GetJob(_ context.Context, id uint64) (*api.Job, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	j, ok := b.jobs[id]
	if !ok {
		return nil, api.Errorf(api.CodeUnknownEntity, "job %d not found", id)
	}
	return cloneJob(j), nil
}

// ListJobs implements api.Backend: newest first. This backend has no archive.
func (b *Backend) ListJobs(_ context.Context, f api.JobFilter) ([]api.Job, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]uint64, 0, len(b.jobs))
	for id := range b.jobs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	out := []api.Job{}
	for _, id := range ids {
		j := b.jobs[id]
		if len(f.States) > 0 && !slices.Contains(f.States, j.State) {
			continue
		}
		out = append(out, *cloneJob(j))
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// CancelJob implements api.Backend: queued and waiting jobs only.
func (b *Backend) CancelJob(_ context.Context, id uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	j, ok := b.jobs[id]
	if !ok {
		return api.Errorf(api.CodeUnknownEntity, "job %d not found", id)
	}
	if j.State != api.JobQueued && j.State != api.JobWaiting {
		return api.Errorf(api.CodeWrongState, "job %d is %s; only queued or waiting jobs can be canceled", id, j.State)
	}
	now := time.Now().UTC()
	j.CancelRequested = true
	j.State = api.JobCanceled
	j.EndedAt = &now
	for i := range j.OpStatus {
		j.OpStatus[i].State = api.JobCanceled
	}
	b.logLocked(j, -1, "info", "job canceled")
	return nil
}

// WaitJob implements api.Backend.
func (b *Backend) WaitJob(ctx context.Context, id uint64, knownState api.JobState, knownLog int, timeout time.Duration) (*api.Job, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		b.mu.Lock()
		j, ok := b.jobs[id]
		if !ok {
			b.mu.Unlock()
			return nil, api.Errorf(api.CodeUnknownEntity, "job %d not found", id)
		}
		if j.State != knownState || len(j.Log) > knownLog || j.State.Finished() {
			c := cloneJob(j)
			b.mu.Unlock()
			return c, nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return b.GetJob(ctx, id)
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for job %d: %w", id, ctx.Err())
		}
	}
}

// run executes queued jobs one after the other until Close.
func (b *Backend) run() {
	defer b.wg.Done()
	for {
		select {
		case <-b.stop:
			return
		case id := <-b.queue:
			b.execute(id)
		}
	}
}

// execute runs job id through its opcodes.
func (b *Backend) execute(id uint64) {
	b.mu.Lock()
	j := b.jobs[id]
	if j == nil || j.State != api.JobQueued {
		b.mu.Unlock()
		return
	}
	now := time.Now().UTC()
	j.State = api.JobRunning
	j.StartedAt = &now
	j.Runs = 1
	j.Epoch = 1
	b.logLocked(j, -1, "info", "job started")
	ops := slices.Clone(j.Ops)
	b.mu.Unlock()

	var result json.RawMessage
	var failed error
	for i, op := range ops {
		b.mu.Lock()
		j.OpStatus[i].State = api.JobRunning
		b.logLocked(j, i, "info", "running "+op.Kind)
		b.mu.Unlock()
		res, err := b.runOp(j, i, op)
		b.mu.Lock()
		if err != nil {
			j.OpStatus[i].State = api.JobError
			for k := i + 1; k < len(ops); k++ {
				j.OpStatus[k].State = api.JobError
			}
			b.logLocked(j, i, "error", err.Error())
			b.mu.Unlock()
			failed = err
			break
		}
		j.OpStatus[i].State = api.JobSuccess
		j.OpStatus[i].Result = res
		result = res
		b.mu.Unlock()
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	end := time.Now().UTC()
	j.EndedAt = &end
	if failed != nil {
		j.State = api.JobError
		j.Error = api.AsError(failed)
		b.logLocked(j, -1, "error", "job failed")
		return
	}
	j.State = api.JobSuccess
	j.Result = result
	b.logLocked(j, -1, "info", "job succeeded")
}

// runOp executes one opcode of job j (called without the lock).
func (b *Backend) runOp(j *api.Job, idx int, op api.OpCode) (json.RawMessage, error) {
	v, err := api.DecodeOp(op)
	if err != nil {
		return nil, err
	}
	switch p := v.(type) {
	case *api.DebugDelay:
		return b.runDelay(j, idx, *p)
	case *api.NodeAdd:
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.nodes[p.Name]; ok {
			return nil, api.Errorf(api.CodeAlreadyExists, "node %q exists", p.Name)
		}
		n := &api.Node{
			Name: p.Name, UUID: randomID(), PrimaryIP: p.PrimaryIP, SecondaryIP: p.SecondaryIP,
			Group: p.Group, MasterCapable: p.MasterCapable == nil || *p.MasterCapable,
			VMCapable: p.VMCapable == nil || *p.VMCapable, Tags: slices.Clone(p.Tags),
			AddedAt: time.Now().UTC(), Status: api.NodeOnline, Hypervisor: "fake", HypervisorOK: true,
		}
		if n.Group == "" {
			n.Group = "default"
		}
		b.nodes[p.Name] = n
		j.OpStatus[idx].StepsDone = 1
		return json.Marshal(map[string]string{"uuid": n.UUID})
	case *api.NodeModifyOp:
		b.mu.Lock()
		defer b.mu.Unlock()
		n, ok := b.nodes[p.Name]
		if !ok {
			return nil, api.Errorf(api.CodeUnknownEntity, "node %q not found", p.Name)
		}
		set := func(dst *bool, src *bool) {
			if src != nil {
				*dst = *src
			}
		}
		set(&n.Drained, p.Drained)
		set(&n.Offline, p.Offline)
		set(&n.MasterCapable, p.MasterCapable)
		set(&n.VMCapable, p.VMCapable)
		if p.SecondaryIP != nil {
			n.SecondaryIP = *p.SecondaryIP
		}
		switch {
		case n.Offline:
			n.Status = api.NodeOffline
		case n.Status == api.NodeOffline:
			n.Status = api.NodeOnline
		}
		j.OpStatus[idx].StepsDone = 1
		return nil, nil
	case *api.NodeRemove:
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.nodes[p.Name]; !ok {
			return nil, api.Errorf(api.CodeUnknownEntity, "node %q not found", p.Name)
		}
		delete(b.nodes, p.Name)
		j.OpStatus[idx].StepsDone = 1
		return nil, nil
	}
	return nil, api.Errorf(api.CodeWrongInput, "unknown opcode %q", op.Kind)
}

// runDelay sleeps through the steps of a debug.delay opcode.
func (b *Backend) runDelay(j *api.Job, idx int, d api.DebugDelay) (json.RawMessage, error) {
	dur, err := d.ParseDuration()
	if err != nil {
		return nil, err
	}
	steps := d.Steps
	if steps == 0 {
		steps = max(1, int(dur/time.Second))
	}
	each := dur / time.Duration(steps)
	for s := 1; s <= steps; s++ {
		select {
		case <-time.After(each):
		case <-b.stop:
			return nil, api.Errorf(api.CodeUnavailable, "backend closed")
		}
		if d.Fail && s == steps {
			return nil, api.Errorf(api.CodeWrongState, "debug delay asked to fail at step %d", s)
		}
		b.mu.Lock()
		j.OpStatus[idx].StepsDone = s
		b.logLocked(j, idx, "info", fmt.Sprintf("step %d/%d done", s, steps))
		b.mu.Unlock()
	}
	return json.Marshal(map[string]int{"steps": steps})
}

// logLocked appends a log line to j and wakes waiters.
func (b *Backend) logLocked(j *api.Job, op int, level, msg string) {
	j.Log = append(j.Log, api.JobLogEntry{
		Serial: len(j.Log) + 1, Time: time.Now().UTC(), Op: op, Level: level, Message: msg,
	})
	b.notifyLocked()
}

func (b *Backend) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func cloneJob(j *api.Job) *api.Job {
	c := *j
	c.Ops = slices.Clone(j.Ops)
	c.OpStatus = slices.Clone(j.OpStatus)
	c.Log = slices.Clone(j.Log)
	c.Locks = slices.Clone(j.Locks)
	if j.Error != nil {
		e := *j.Error
		c.Error = &e
	}
	return &c
}
