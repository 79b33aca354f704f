package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// failoverPrincipal submits the failover controller's jobs.
var failoverPrincipal = api.Principal{User: "failover", Role: api.RoleAdmin}

// failoverJobTimeout bounds one instance's failover job.
const failoverJobTimeout = 10 * time.Minute

// failoverNode deals with the instances whose primary is on a node that is
// now fenced (the liveness controller calls it; docs/ha.md): every drbd
// instance that should run gets an instance.failover job (its secondary is
// promoted and the instance started there; the promotion is never forced:
// IgnoreConsistency stays off, a secondary that is not UpToDate is refused;
// instance.failover accepts the old primary as dead because the liveness
// record says fenced), one job per instance (an unfinished one is waited
// for, see startFailoverJob). The instances are taken in ha_priority order
// (highest first, then by name), and each gets a job only when its target
// has the memory for it: instances are counted against the target's last
// reported free memory in that order, so the higher ones get the memory
// first; what does not fit is reported (log and an event in the
// instance's HA record), not overcommitted. A target where the instance's
// failures reached its migration_threshold is not chosen (reported the
// same way). The jobs are all submitted at once and run side by side (each
// locks only its instance), so the last instance of a node does not wait
// for the others. Stopped instances stay stopped. Instances on plain or
// file disks cannot move (their disks are on the dead node): reported. It
// returns an error (the node stays fenced and it is tried again) when a
// failover job failed.
func (m *Master) failoverNode(ctx context.Context, fence store.Fence, node string, log *slog.Logger) error {
	insts, err := m.primariesOn(ctx, node)
	if err != nil {
		return err
	}
	byHAPriority(insts)
	free := map[string]int64{}
	var failed []string
	type started struct {
		rec    keys.InstanceRecord
		target string
		job    uint64
	}
	var jobs []started
	for _, in := range insts {
		switch {
		case !in.AdminUp:
			log.Info("failover_skipped", "node", node, "instance", in.Name, "reason", "stopped: stays stopped")
			m.observeFailover("stopped")
			continue
		case in.DiskTemplate != "drbd":
			log.Warn("failover_unavailable", "node", node, "instance", in.Name, "disk_template", in.DiskTemplate,
				"reason", "its disks are on the fenced node")
			m.observeFailover("unavailable")
			continue
		}
		ha, err := m.instanceHA(ctx, &in)
		if err != nil {
			log.Error("failover_failed", "node", node, "instance", in.Name, "error", err)
			m.observeFailover("failed")
			failed = append(failed, in.Name)
			continue
		}
		target, rejected := chooseTarget(&in, &ha.Value, []string{secondaryOf(in, node)})
		if target == "" {
			for _, r := range rejected {
				log.Error("failover_banned", "node", node, "instance", in.Name, "secondary", r.Node, "reason", r.Reason)
				m.haEvent(ctx, fence, &in, haEventBanned, r.Node, "not failed over from "+node+": "+r.Reason, log)
			}
			m.observeFailover("banned")
			continue
		}
		if _, ok := free[target]; !ok {
			free[target] = m.freeMemory(ctx, target)
		}
		if free[target] < in.MemoryMiB {
			log.Error("failover_no_fit", "node", node, "instance", in.Name, "secondary", target, "ha_priority", in.HAPriority,
				"memory_mib", in.MemoryMiB, "free_mib", free[target])
			m.haEvent(ctx, fence, &in, haEventNoFit, target, fmt.Sprintf("not failed over from %s: needs %d MiB, %s has %d MiB left "+
				"for it (instances of a higher ha_priority first)", node, in.MemoryMiB, target, free[target]), log)
			m.observeFailover("no_fit")
			continue
		}
		free[target] -= in.MemoryMiB
		id, err := m.startFailoverJob(ctx, in.Name, log)
		if err != nil {
			log.Error("failover_failed", "node", node, "instance", in.Name, "error", err)
			m.haEvent(ctx, fence, &in, haEventFailoverError, target, fmt.Sprintf("failover from %s refused: %v", node, err), log)
			m.observeFailover("failed")
			failed = append(failed, in.Name)
			continue
		}
		jobs = append(jobs, started{in, target, id})
	}
	for _, j := range jobs {
		if err := m.waitFailoverJob(ctx, j.job); err != nil {
			log.Error("failover_failed", "node", node, "instance", j.rec.Name, "job", j.job, "error", err)
			m.haEvent(ctx, fence, &j.rec, haEventFailoverError, j.target, fmt.Sprintf("failover from %s failed: %v", node, err), log)
			m.observeFailover("failed")
			failed = append(failed, j.rec.Name)
			continue
		}
		log.Warn("failover_done", "node", node, "instance", j.rec.Name, "new_primary", j.target, "job", j.job)
		m.haEvent(ctx, fence, &j.rec, haEventFailoverDone, j.target, fmt.Sprintf("failed over from %s (job %d)", node, j.job), log)
		m.setFailedOverFrom(ctx, fence, &j.rec, node)
		m.observeFailover("started")
	}
	if len(failed) > 0 {
		return fmt.Errorf("failover of %v failed", failed)
	}
	return nil
}

// startFailoverJob submits instance.failover for name and returns its id. A
// failover job of name that has not finished yet (submitted by an earlier
// leader, or by an operator) is returned instead of submitting a second
// one: one job per instance, also across leader changes.
func (m *Master) startFailoverJob(ctx context.Context, name string, log *slog.Logger) (uint64, error) {
	id, err := m.pendingFailoverJob(ctx, name)
	if err != nil {
		return 0, err
	}
	if id != 0 {
		log.Info("failover_job_pending", "instance", name, "job", id)
		return id, nil
	}
	id, err = m.SubmitJob(ctx, failoverPrincipal, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpInstanceFailover, api.InstanceFailover{Name: name})}})
	if err != nil {
		return 0, err
	}
	log.Info("failover_job_submitted", "instance", name, "job", id)
	return id, nil
}

// waitFailoverJob waits (at most failoverJobTimeout) for job id's end; an
// error when it did not succeed.
func (m *Master) waitFailoverJob(ctx context.Context, id uint64) error {
	deadline := time.Now().Add(failoverJobTimeout)
	state, seen := api.JobState(""), 0
	for time.Now().Before(deadline) {
		j, err := m.queue.Wait(ctx, id, state, seen, 10*time.Second)
		if err != nil {
			return err
		}
		if j.State.Finished() {
			if j.State != api.JobSuccess {
				if j.Error != nil {
					return fmt.Errorf("job %d: %s", id, j.Error.Message)
				}
				return fmt.Errorf("job %d: %s", id, j.State)
			}
			return nil
		}
		state, seen = j.State, len(j.Log)
	}
	return errors.New("failover job did not finish in time")
}

// pendingFailoverJob is the id of an unfinished instance.failover job of
// name (0: none).
func (m *Master) pendingFailoverJob(ctx context.Context, name string) (uint64, error) {
	js, err := m.queue.List(ctx, api.JobFilter{States: []api.JobState{api.JobQueued, api.JobWaiting, api.JobRunning, api.JobCanceling}})
	if err != nil {
		return 0, fmt.Errorf("failover: list jobs: %w", err)
	}
	for _, j := range js {
		for _, op := range j.Ops {
			var p api.InstanceFailover
			if op.Kind == api.OpInstanceFailover && json.Unmarshal(op.Params, &p) == nil && p.Name == name {
				return j.ID, nil
			}
		}
	}
	return 0, nil
}

// secondaryOf is the other node of a drbd instance's first disk.
func secondaryOf(in keys.InstanceRecord, primary string) string {
	for _, d := range in.Disks {
		if d.DRBD != nil {
			for _, n := range d.DRBD.Nodes {
				if n.Node != primary {
					return n.Node
				}
			}
		}
	}
	return ""
}

// freeMemory is what node's agent last reported free (0 when unknown).
func (m *Master) freeMemory(ctx context.Context, node string) int64 {
	var st keys.NodeStatus
	if _, err := store.GetJSON(ctx, m.client, keys.NodeStatusKey(node), &st); err != nil {
		return 0
	}
	return st.Resources.MemoryFreeMiB
}

// primariesOn lists the instances whose primary is node, by name.
func (m *Master) primariesOn(ctx context.Context, node string) ([]keys.InstanceRecord, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.InstancesPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("failover: list instances: %w", err)
	}
	var out []keys.InstanceRecord
	for _, kv := range resp.Kvs {
		var r keys.InstanceRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("failover: decode %s: %w", kv.Key, err)
		}
		if r.PrimaryNode == node && r.CreatingJob == 0 {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
