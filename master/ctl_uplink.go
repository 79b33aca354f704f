package master

import (
	"context"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// The uplink controller (issue 9 point 3, docs/ha.md "Connectivity"): the
// agents of a node group with ping targets report whether any target
// answers (NodeStatus.Uplink). A running drbd instance whose primary lost
// its uplink for UplinkMigrateAfter, while the node still holds its lease,
// is live-migrated to a secondary whose uplink is up, as Pacemaker's ping
// resource with a location rule on its attribute moves resources "while it
// still can". Nothing moves when no peer of the instance has its uplink
// (a shared upstream outage: no node is better), when the cluster turned
// it off (cluster modify --uplink-migrate off), or for stopped instances.
// A migration that failed is not tried again for uplinkRetryAfter.

// uplinkInterval is how often the controller looks.
const uplinkInterval = 5 * time.Second

// UplinkMigrateAfter is how long a node's uplink must have been lost (by
// the agent's report) before its instances move.
const UplinkMigrateAfter = 10 * time.Second

// uplinkRetryAfter is the pause after a failed migration of one instance.
const uplinkRetryAfter = 5 * time.Minute

var uplinkPrincipal = api.Principal{User: "uplink", Role: api.RoleAdmin}

// uplinkState is what the controller remembers between passes.
type uplinkState struct {
	pending map[string]uint64    // instance -> migration job not yet ended
	failed  map[string]time.Time // instance -> when its last migration failed
}

// runUplink is the uplink controller (non-fatal).
func (m *Master) runUplink(ctx context.Context, _ store.Fence) error {
	s := &uplinkState{pending: map[string]uint64{}, failed: map[string]time.Time{}}
	return periodic(ctx, uplinkInterval, 30*time.Second, func(ctx context.Context) {
		m.uplinkOnce(ctx, time.Now(), s)
	})
}

// uplinkOnce looks once and returns the instances it submitted migrations
// for.
func (m *Master) uplinkOnce(ctx context.Context, now time.Time, s *uplinkState) []string {
	var crec keys.ClusterRecord
	if _, err := store.GetJSON(ctx, m.client, keys.ClusterKey, &crec); err != nil || crec.UplinkMigrateOff || len(crec.PingTargets) == 0 {
		return nil
	}
	m.uplinkJobsEnded(ctx, now, s)
	if !m.anyUplinkLost(ctx) {
		return nil
	}
	v, err := m.readClusterView(ctx)
	if err != nil {
		return nil
	}
	lost := map[string]bool{}
	for n, st := range v.status {
		if v.alive[n] && st.Uplink != nil && !st.Uplink.OK && now.Sub(st.Uplink.Since) >= UplinkMigrateAfter {
			lost[n] = true
		}
	}
	if len(lost) == 0 {
		return nil
	}
	var out []string
	for i := range v.instances {
		r := &v.instances[i]
		if !lost[r.PrimaryNode] || r.DiskTemplate != api.DiskTemplateDRBD || !r.AdminUp || r.CreatingJob != 0 || r.DisksDown || leaving(r) {
			continue
		}
		if _, ok := s.pending[r.Name]; ok {
			continue
		}
		if t, ok := s.failed[r.Name]; ok && now.Sub(t) < uplinkRetryAfter {
			continue
		}
		if d := v.domain(r.PrimaryNode, r.Name); d == nil || d.State != keys.DomainRunning {
			continue
		}
		target := uplinkTarget(v, r)
		if target == "" {
			m.log.Debug("uplink_no_target", "instance", r.Name, "node", r.PrimaryNode)
			continue
		}
		id, err := m.queue.Submit(ctx, uplinkPrincipal, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpInstanceMigrate,
			api.InstanceMigrate{Name: r.Name, MigrateOptions: api.MigrateOptions{TargetNode: target}})}})
		if err != nil {
			m.log.Warn("uplink_migrate_submit_failed", "instance", r.Name, "error", err)
			continue
		}
		s.pending[r.Name] = id
		out = append(out, r.Name)
		m.log.Warn("uplink_migrate", "instance", r.Name, "from", r.PrimaryNode, "to", target,
			"uplink_lost_since", v.status[r.PrimaryNode].Uplink.Since, "job_id", id)
	}
	return out
}

// uplinkJobsEnded forgets the migrations that ended, remembering failures.
func (m *Master) uplinkJobsEnded(ctx context.Context, now time.Time, s *uplinkState) {
	for name, id := range s.pending {
		j, err := m.queue.Get(ctx, id)
		if err != nil || !j.State.Finished() {
			continue
		}
		delete(s.pending, name)
		if j.State != api.JobSuccess {
			s.failed[name] = now
		}
	}
	for name, t := range s.failed {
		if now.Sub(t) >= uplinkRetryAfter {
			delete(s.failed, name)
		}
	}
}

// uplinkTarget is the first DRBD peer of r's disks (in the record's order)
// that is online, not drained, and whose uplink is up; "" for none.
func uplinkTarget(v *clusterView, r *keys.InstanceRecord) string {
	for _, d := range r.Disks {
		if d.DRBD == nil {
			continue
		}
		for _, p := range d.DRBD.Nodes {
			n := p.Node
			if n == r.PrimaryNode || v.nodeStatus(n) != api.NodeOnline {
				continue
			}
			if nr := v.nodes[n]; nr == nil || nr.Drained {
				continue
			}
			if st := v.status[n]; st != nil && st.Uplink != nil && st.Uplink.OK {
				return n
			}
		}
		return ""
	}
	return ""
}

// uplinkLost reports whether node n's agent says its uplink is lost.
func uplinkLost(v *clusterView, n string) bool {
	st := v.status[n]
	return st != nil && st.Uplink != nil && !st.Uplink.OK
}
