package master

import (
	"context"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// The drbd-rejoin controller: a node that comes back (its guest or machine
// restarted) has lost its DRBD resources from the kernel, and its agent
// starts nothing by itself. The leader sees, in the state the node
// publishes, that a resource the records give the node is missing, and
// submits an instance.activate-disks job with Rejoin for that instance: the
// disk is brought up there as secondary (disk.create on the existing LV
// keeps its data and metadata) and resyncs from the primary. Nothing is
// promoted and nothing started: an instance whose primary came back is
// started by the restart policy (instance-restart), whose startup
// activates the disks with the primary role. Instances being created, with
// disks marked down (deactivate-disks) or split-brained resources are left
// alone (a split brain is reported, never resolved here).

// rejoinInterval is how often the controller looks.
const rejoinInterval = 3 * time.Second

var rejoinPrincipal = api.Principal{User: "drbd-rejoin", Role: api.RoleAdmin}

// runDRBDRejoin is the drbd-rejoin controller (non-fatal).
func (m *Master) runDRBDRejoin(ctx context.Context, _ store.Fence) error {
	pending := map[string]uint64{}
	return periodic(ctx, rejoinInterval, 30*time.Second, func(ctx context.Context) { m.rejoinOnce(ctx, pending) })
}

// rejoinOnce looks at every drbd instance once; pending holds the jobs it
// submitted that have not ended (one per instance at a time).
func (m *Master) rejoinOnce(ctx context.Context, pending map[string]uint64) {
	v, err := m.readDRBDView(ctx)
	if err != nil {
		return
	}
	states := map[string]map[string]keys.DRBDResource{}
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
		missing := ""
		for _, n := range diskNodes(r) {
			if v.nodeStatus(n) != api.NodeOnline {
				continue
			}
			res, seen := states[n]
			if !seen {
				res, _ = m.drbdResources(ctx, n)
				states[n] = res
			}
			if res == nil {
				continue // publishes nothing (yet)
			}
			for _, d := range r.Disks {
				if minorOn(d.DRBD, n) < 0 {
					continue
				}
				if _, up := res[d.DRBD.Resource]; !up {
					missing = n
				}
			}
		}
		if missing == "" {
			continue
		}
		id, err := m.queue.Submit(ctx, rejoinPrincipal, api.JobSubmit{
			Ops: []api.OpCode{api.MustOp(api.OpInstanceActivateDisks, api.InstanceActivateDisks{Name: r.Name, Rejoin: true})},
		})
		if err != nil {
			m.log.Warn("drbd_rejoin_submit_failed", "instance", r.Name, "error", err)
			continue
		}
		pending[r.Name] = id
		m.log.Warn("drbd_rejoin", "instance", r.Name, "node", missing, "job_id", id)
	}
}
