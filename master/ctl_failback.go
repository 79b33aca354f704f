package master

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// The failback controller (docs/ha.md, "Instance HA properties"): a node
// that comes back after it was fenced rejoins as secondary (drbd-rejoin)
// and is not made a primary again by itself. Only an instance with
// failback=on goes back, once it is redundant again (every disk UpToDate on
// both nodes, connected): it is live-migrated (instance.migrate, submitter
// "failback") to its preferred node (preferredNode: the best location
// score, else the node it was failed over from). With failback off it
// stays until an operator migrates it. The same pass moves an instance
// off its primary once its failures there reached migration_threshold and
// it does not run (awayTarget: instance.failover to its secondary, as
// Pacemaker moves a resource whose fail-count reached the threshold). One
// job per instance at a time; a failed one is reported (event
// failback_failed, counted as a failure of the target) and not tried again
// for failbackRetry.

// failbackInterval is how often the controller looks; failbackRetry how
// long it leaves an instance alone after its failback failed.
const (
	failbackInterval = 10 * time.Second
	failbackRetry    = 5 * time.Minute
)

var failbackPrincipal = api.Principal{User: "failback", Role: api.RoleAdmin}

// failbackState is what the controller keeps between passes (one
// leadership): its unfinished jobs and when a failback last failed.
type failbackState struct {
	pending map[string]failbackJob // by instance UUID
	failed  map[string]time.Time   // by instance UUID
}

type failbackJob struct {
	id     uint64
	target string
	what   string // failback, or failover at migration_threshold
	from   string // the primary when it was submitted
}

func newFailbackState() *failbackState {
	return &failbackState{pending: map[string]failbackJob{}, failed: map[string]time.Time{}}
}

// runFailback is the failback controller (non-fatal).
func (m *Master) runFailback(ctx context.Context, fence store.Fence) error {
	st := newFailbackState()
	return periodic(ctx, failbackInterval, time.Minute, func(ctx context.Context) { m.failbackOnce(ctx, fence, st, time.Now()) })
}

// failbackOnce looks at every instance once and returns the instances it
// submitted a failback for.
func (m *Master) failbackOnce(ctx context.Context, fence store.Fence, st *failbackState, now time.Time) []string {
	v, err := m.readClusterView(ctx)
	if err != nil {
		return nil
	}
	has, err := m.haRecords(ctx)
	if err != nil {
		m.log.Warn("failback_read_failed", "error", err)
		return nil
	}
	nodeOK := failbackNodeOK(v)
	var out []string
	for i := range v.instances {
		r := &v.instances[i]
		ha := has[r.UUID]
		if ha == nil {
			if !r.Failback && r.MigrationThreshold == 0 {
				continue // nothing to do for it (most instances)
			}
			ha = &keys.InstanceHARecord{}
		}
		if j, ok := st.pending[r.UUID]; ok {
			// Running, or just ended: the view may be older than its
			// end; the next pass looks again.
			m.failbackEnded(ctx, fence, st, r, j, now)
			continue
		}
		if ha.FailedOverFrom != "" && ha.FailedOverFrom == r.PrimaryNode {
			// Back where it was (a failback, or an operator's migrate).
			m.setFailedOverFrom(ctx, fence, r, "")
			ha.FailedOverFrom = ""
		}
		if at, ok := st.failed[r.UUID]; ok && now.Sub(at) < failbackRetry {
			continue
		}
		if v.nodeStatus(r.PrimaryNode) != api.NodeOnline {
			continue
		}
		red := redundancyOf(r, v.drbdOf)
		var op api.OpCode
		what := "failback"
		target := awayTarget(r, ha, red, domainUp(v.domain(r.PrimaryNode, r.Name)), nodeOK)
		if target != "" {
			op, what = api.MustOp(api.OpInstanceFailover, api.InstanceFailover{Name: r.Name}), "failover at migration_threshold"
			m.log.Warn("failover_threshold", "instance", r.Name, "node", r.PrimaryNode, "to", target, "reason", bannedBy(r, ha, r.PrimaryNode))
		} else if target = failbackTarget(r, ha, red, nodeOK); target != "" {
			op = api.MustOp(api.OpInstanceMigrate, api.InstanceMigrate{Name: r.Name,
				MigrateOptions: api.MigrateOptions{TargetNode: target, Mode: api.MigrateModeLive}})
		} else {
			continue
		}
		id, err := m.queue.Submit(ctx, failbackPrincipal, api.JobSubmit{Ops: []api.OpCode{op}})
		if err != nil {
			st.failed[r.UUID] = now
			m.log.Warn("failback_refused", "instance", r.Name, "to", target, "error", err)
			m.haEvent(ctx, fence, r, haEventFailbackError, target, what+" refused: "+api.AsError(err).Message, m.log)
			continue
		}
		st.pending[r.UUID] = failbackJob{id, target, what, r.PrimaryNode}
		out = append(out, r.Name)
		m.log.Warn("failback", "instance", r.Name, "what", what, "from", r.PrimaryNode, "to", target, "job_id", id)
	}
	return out
}

// failbackEnded checks r's failback job j: once it ended, the end is
// recorded as an event (and a failure as a failure of the target) and j
// forgotten.
func (m *Master) failbackEnded(ctx context.Context, fence store.Fence, st *failbackState, r *keys.InstanceRecord, j failbackJob, now time.Time) {
	job, err := m.queue.Get(ctx, j.id)
	if err != nil || !job.State.Finished() {
		return
	}
	delete(st.pending, r.UUID)
	done, failed := haEventFailbackDone, haEventFailbackError
	if j.what != "failback" {
		done, failed = haEventFailoverDone, haEventFailoverError
	}
	if job.State == api.JobSuccess {
		m.haEvent(ctx, fence, r, done, j.target, fmt.Sprintf("%s from %s to %s done (job %d)", j.what, j.from, j.target, j.id), m.log)
		if j.what != "failback" {
			m.setFailedOverFrom(ctx, fence, r, j.from)
		}
		return
	}
	msg := string(job.State)
	if job.Error != nil {
		msg = job.Error.Message
	}
	st.failed[r.UUID] = now
	m.log.Error("failback_failed", "instance", r.Name, "what", j.what, "to", j.target, "job_id", j.id, "error", msg)
	err = m.updateHA(ctx, fence, r, func(ha *keys.InstanceHARecord) bool {
		countFailure(ha, j.target, failed, now.UTC(), fmt.Errorf("%s job %d: %s", j.what, j.id, msg))
		return true
	})
	if err != nil {
		m.log.Warn("fail_count_not_recorded", "instance", r.Name, "node", j.target, "error", err)
	}
}

// setFailedOverFrom records (or, with "", clears) the node r was failed
// over from.
func (m *Master) setFailedOverFrom(ctx context.Context, fence store.Fence, r *keys.InstanceRecord, node string) {
	err := m.updateHA(ctx, fence, r, func(ha *keys.InstanceHARecord) bool {
		if ha.FailedOverFrom == node {
			return false
		}
		ha.FailedOverFrom = node
		return true
	})
	if err != nil {
		m.log.Warn("ha_record_not_written", "instance", r.Name, "error", err)
	}
}

// haRecords reads every instance's HA record, by instance UUID.
func (m *Master) haRecords(ctx context.Context) (map[string]*keys.InstanceHARecord, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.InstanceHAPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("list instance HA records", err)
	}
	out := map[string]*keys.InstanceHARecord{}
	for _, kv := range resp.Kvs {
		var r keys.InstanceHARecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out[keys.NameFromKey(keys.InstanceHAPrefix, string(kv.Key))] = &r
	}
	return out, nil
}

// failbackNodeOK tells whether the failback controller may move an
// instance to a node: online, not drained, and its uplink not lost (else
// the uplink controller would move it off again: ctl_uplink.go).
func failbackNodeOK(v *clusterView) func(string) bool {
	return func(n string) bool {
		rec := v.nodes[n]
		return v.nodeStatus(n) == api.NodeOnline && rec != nil && !rec.Drained && !uplinkLost(v, n)
	}
}
