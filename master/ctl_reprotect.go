package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/allocator"
	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// The reprotect controller (issue 9 point 4, docs/ha.md): a drbd instance
// whose secondary is on a node that stays dead (the liveness controller
// recorded it fenced or offline, and it has published no status since) for
// longer than Config.ReprotectAfter gets a new secondary: the allocator
// picks it (hbal's relocate, "r:N": N+1 and capacity respected), and an
// instance.replace-disks job in mode new-secondary copies the disks there
// from the primary. A failed-over instance is the usual case: its
// secondary is the node it left. A node that comes back before the
// threshold is resynced by the drbd-rejoin controller instead. Instances
// whose primary is not online, that are being created, whose disks are
// down or already being replaced are left alone; what the allocator cannot
// place is logged (reprotect_no_fit), not forced.

// reprotectInterval is how often the controller looks.
const reprotectInterval = 10 * time.Second

// DefaultReprotectAfter is how long a secondary's node may stay dead before
// its instances get a new secondary.
const DefaultReprotectAfter = 5 * time.Minute

var reprotectPrincipal = api.Principal{User: "reprotect", Role: api.RoleAdmin}

// runReprotect is the reprotect controller (non-fatal).
func (m *Master) runReprotect(ctx context.Context, _ store.Fence) error {
	pending := map[string]uint64{}
	return periodic(ctx, reprotectInterval, 30*time.Second, func(ctx context.Context) {
		m.reprotectOnce(ctx, m.cfg.ReprotectAfter, time.Now(), pending)
	})
}

// reprotectOnce looks at every drbd instance once; pending holds the jobs
// it submitted that have not ended (one per instance at a time). It returns
// the instances it submitted a replace-disks for.
func (m *Master) reprotectOnce(ctx context.Context, after time.Duration, now time.Time, pending map[string]uint64) []string {
	v, err := m.readDRBDView(ctx)
	if err != nil {
		return nil
	}
	var full *clusterView // every instance: the allocator's, read once a pass when needed
	health, err := m.healthRecords(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for i := range v.instances {
		r := &v.instances[i]
		if r.DiskTemplate != api.DiskTemplateDRBD || r.CreatingJob != 0 || r.DisksDown {
			continue
		}
		if id, ok := pending[r.Name]; ok {
			if j, err := m.queue.Get(ctx, id); err == nil && !j.State.Finished() {
				continue
			}
			delete(pending, r.Name)
		}
		sec := replSecondary(*r)
		if sec == "" || sec == r.PrimaryNode || v.alive[sec] || leaving(r) || v.nodeStatus(r.PrimaryNode) != api.NodeOnline {
			continue
		}
		deadSince, dead := deadSince(health[sec])
		if !dead || now.Sub(deadSince) < after {
			continue
		}
		if full == nil {
			if full, err = m.readClusterView(ctx); err != nil {
				return out
			}
		}
		target, err := m.relocateSecondary(ctx, full, r)
		if err != nil {
			m.log.Warn("reprotect_no_fit", "instance", r.Name, "dead_secondary", sec, "error", err)
			continue
		}
		id, err := m.queue.Submit(ctx, reprotectPrincipal, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpInstanceReplaceDisks,
			api.InstanceReplaceDisks{Name: r.Name, ReplaceDisksOptions: api.ReplaceDisksOptions{Mode: api.ReplaceNewSecondary, NewSecondary: target}})}})
		if err != nil {
			m.log.Warn("reprotect_submit_failed", "instance", r.Name, "error", err)
			continue
		}
		pending[r.Name] = id
		out = append(out, r.Name)
		m.log.Warn("reprotect", "instance", r.Name, "dead_secondary", sec, "dead_since", deadSince, "new_secondary", target, "job_id", id)
	}
	return out
}

// leaving reports whether a disk of r is already being moved off a node.
func leaving(r *keys.InstanceRecord) bool {
	for _, d := range r.Disks {
		if d.DRBD != nil && len(d.DRBD.Leaving) > 0 {
			return true
		}
	}
	return false
}

// deadSince is when a node the liveness controller fenced lost its lease
// (false: it is not recorded fenced or offline).
func deadSince(h *keys.NodeHealthRecord) (time.Time, bool) {
	if h == nil || (h.State != api.NodeFenced && h.State != api.NodeOffline) {
		return time.Time{}, false
	}
	if !h.LeaseLostAt.IsZero() {
		return h.LeaseLostAt, true
	}
	return h.Since, true
}

// healthRecords reads every node's liveness record.
func (m *Master) healthRecords(ctx context.Context) (map[string]*keys.NodeHealthRecord, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.NodeHealthPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("reprotect: read node health: %w", err)
	}
	out := map[string]*keys.NodeHealthRecord{}
	for _, kv := range resp.Kvs {
		var h keys.NodeHealthRecord
		if json.Unmarshal(kv.Value, &h) == nil {
			out[keys.NameFromKey(keys.NodeHealthPrefix, string(kv.Key))] = &h
		}
	}
	return out, nil
}

// relocateSecondary asks the allocator for a new secondary of r among the
// online nodes that offer drbd storage (hbal's relocate).
func (m *Master) relocateSecondary(ctx context.Context, v *clusterView, r *keys.InstanceRecord) (string, error) {
	statuses := map[string]*nodeAgentStatus{}
	for name, n := range v.nodes {
		st := v.status[name]
		if !v.alive[name] || st == nil || n.Offline {
			continue
		}
		unfit := ""
		if err := checkBlockNode(name, api.DiskTemplateDRBD, st, 0); err != nil {
			unfit = api.AsError(err).Message
		}
		statuses[name] = &nodeAgentStatus{Hypervisor: st.Hypervisor, HypervisorOK: st.HypervisorOK, Resources: st.Resources, Unfit: unfit}
	}
	ratio, err := m.vcpuRatio(ctx)
	if err != nil {
		return "", err
	}
	spec := allocSpec(v, statuses, r.Hypervisor)
	spec.Policy.VCPURatio = ratio
	var plan allocator.Plan
	err = placePreferringUplink(v, spec, func(c *allocator.Cluster) error {
		plan, err = c.Relocate(r.Name)
		if err == nil && (len(plan.Moves) == 0 || plan.Moves[0].Secondary == "") {
			err = allocator.ErrNoFit // none here: the next try may find one
		}
		return err
	})
	if errors.Is(err, errAllocSnapshot) {
		return "", err
	}
	if err != nil {
		if errors.Is(err, allocator.ErrNoFit) {
			return "", api.Errorf(api.CodeInsufficientResources, "no node can take the secondary of %s: %v", r.Name, err)
		}
		return "", err
	}
	if len(plan.Moves) == 0 || plan.Moves[0].Secondary == "" {
		return "", api.Errorf(api.CodeInsufficientResources, "the allocator found no new secondary for %s", r.Name)
	}
	return plan.Moves[0].Secondary, nil
}
