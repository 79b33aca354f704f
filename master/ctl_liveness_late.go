package master

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// fastPath is the liveness controller's fast path for dead nodes
// (docs/ha.md "The fast path"). Every lateProbeEvery it reads the
// remaining TTL of the lease of every online node that has a fence device
// (bounded: lateProbeParallel at once, lateProbeTimeout a round); a node
// whose agent has certainly not renewed it for lateAfter is late (logged,
// nothing else changes), and its fence device is asked for its power
// state, status only (one read at a time per node, at most every
// bmcStatusEvery). Only a device that says off moves the node on
// (liveness.powerOffConfirmed). A failed read, a device that says on or
// cannot answer: nothing; the normal path (lease expiry, suspect, STONITH)
// stays as it is. Its state belongs to the controller's loop goroutine;
// the I/O runs in jobs handed to spawn, whose results the loop applies.
type fastPath struct {
	ctx    context.Context // the controller's: its jobs end with it
	timing keys.LeaseTiming
	now    func() time.Time
	log    *slog.Logger
	// ttl reads a lease's granted and remaining TTL (seconds; -1: gone).
	ttl func(ctx context.Context, lease int64) (granted, remaining int64, err error)
	// devices reads the fence devices of all nodes.
	devices func(ctx context.Context) (map[string]fence.Device, error)
	// power asks a fence device for its power state (status only).
	power func(ctx context.Context, d fence.Device) (fence.Power, error)
	// spawn runs a job off the loop; the loop calls the returned func.
	spawn func(job func() func())
	// observe counts a status read of a late node by its answer.
	observe func(power fence.Power)
	// dropPeers, when set, runs (off the loop) once a node's fence device
	// said off and the node moved to fencing: the secondaries of its
	// instances drop it now, while the STONITH runs (dropDeadPrimary).
	dropPeers func(ctx context.Context, node string)

	running bool
	asking  map[string]bool
	askedAt map[string]time.Time
}

// lateFinding is what one round found for one probed node.
type lateFinding struct {
	c         lateCandidate
	dev       fence.Device
	late      bool
	unrenewed time.Duration
}

// newFastPath wires the fast path to the master's etcd client and fence
// runner.
func (m *Master) newFastPath(ctx context.Context, t keys.LeaseTiming, log *slog.Logger, spawn func(func() func())) *fastPath {
	runner := m.fenceRunner(log)
	runner.Timeout = 15 * time.Second // a status read; never blocks the loop
	return &fastPath{
		ctx: ctx, timing: t, now: time.Now, log: log, spawn: spawn, observe: m.observeFastPath,
		ttl: func(ctx context.Context, lease int64) (int64, int64, error) {
			r, err := m.client.TimeToLive(ctx, clientv3.LeaseID(lease))
			if err != nil {
				return 0, 0, err
			}
			return r.GrantedTTL, r.TTL, nil
		},
		devices: m.fenceDevices,
		power: func(ctx context.Context, d fence.Device) (fence.Power, error) {
			res, err := runner.Status(ctx, d)
			return fence.Power(res.Power), err
		},
	}
}

// start begins a probing round unless one runs.
func (f *fastPath) start(lv *liveness) {
	if f.running {
		return
	}
	cands := lv.lateCandidates()
	if len(cands) == 0 {
		return
	}
	f.running = true
	f.spawn(func() func() {
		found, err := f.probe(cands)
		return func() { f.apply(lv, found, err) }
	})
}

// probe is one round's I/O: the devices, then the leases' TTLs. A read
// that failed or did not answer in time is no information: the node is
// left out.
func (f *fastPath) probe(cands []lateCandidate) ([]lateFinding, error) {
	ctx, cancel := context.WithTimeout(f.ctx, lateProbeTimeout)
	defer cancel()
	devs, err := f.devices(ctx)
	if err != nil {
		return nil, err
	}
	var (
		mu  sync.Mutex
		out []lateFinding
		wg  sync.WaitGroup
		sem = make(chan struct{}, lateProbeParallel)
	)
	for _, c := range cands {
		d, ok := devs[c.node]
		switch {
		case !ok:
			continue
		case c.gone:
			// Goroutines of earlier candidates may be appending.
			mu.Lock()
			out = append(out, lateFinding{c: c, dev: d, late: true})
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			granted, remaining, err := f.ttl(ctx, c.lease)
			if err != nil {
				return // a stalled member, no quorum: no information
			}
			late, unrenewed := leaseLate(f.timing, granted, remaining)
			mu.Lock()
			out = append(out, lateFinding{c: c, dev: d, late: late, unrenewed: unrenewed})
			mu.Unlock()
		})
	}
	wg.Wait()
	return out, nil
}

// apply records a round's findings (in the loop) and asks the devices of
// late nodes for their power state.
func (f *fastPath) apply(lv *liveness, found []lateFinding, err error) {
	f.running = false
	if err != nil {
		f.log.Debug("late_probe_failed", "error", err)
		return
	}
	for _, fd := range found {
		if !fd.c.gone && lv.setLate(fd.c.node, fd.c.lease, fd.late) {
			if fd.late {
				f.log.Warn("node_late", "node", fd.c.node, "unrenewed", fd.unrenewed,
					"reason", fmt.Sprintf("lease not renewed for at least %v (late after %v): asking its fence device for its power state", fd.unrenewed, lateAfter(f.timing)))
			} else {
				f.log.Info("node_late_renewed", "node", fd.c.node)
			}
		}
		if fd.late {
			f.ask(lv, fd)
		}
	}
}

// ask reads a late node's power state through its fence device (status
// only), rate-limited per node.
func (f *fastPath) ask(lv *liveness, fd lateFinding) {
	node, now := fd.c.node, f.now()
	if f.asking == nil {
		f.asking, f.askedAt = map[string]bool{}, map[string]time.Time{}
	}
	if f.asking[node] || now.Sub(f.askedAt[node]) < bmcStatusEvery {
		return
	}
	f.asking[node], f.askedAt[node] = true, now
	f.spawn(func() func() {
		ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
		defer cancel()
		p, err := f.power(ctx, fd.dev)
		return func() {
			f.asking[node] = false
			if err != nil {
				p = fence.PowerUnknown
			}
			f.observe(p)
			switch {
			case err != nil:
				f.log.Info("node_late_status", "node", node, "power", p, "error", err, "action", "none: the normal path decides")
			case p != fence.PowerOff:
				f.log.Info("node_late_status", "node", node, "power", p, "action", "none: the normal path decides")
			case lv.powerOffConfirmed(node, fd.c.lease):
				f.log.Warn("node_power_off_confirmed", "node", node, "reason", reasonPowerOffConfirmed,
					"action", "fence off (confirm), then failover, without waiting for the lease")
				if f.dropPeers != nil {
					f.spawn(func() func() { f.dropPeers(f.ctx, node); return func() {} })
				}
			}
		}
	})
}

// fenceDevices reads every node's fence device.
func (m *Master) fenceDevices(ctx context.Context) (map[string]fence.Device, error) {
	r, err := m.client.Get(ctx, keys.NodeFencePrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list fence devices: %w", err)
	}
	out := map[string]fence.Device{}
	for _, kv := range r.Kvs {
		var f api.NodeFence
		if json.Unmarshal(kv.Value, &f) == nil {
			out[keys.NameFromKey(keys.NodeFencePrefix, string(kv.Key))] = fence.Device{Agent: f.Agent, Params: f.Params}
		}
	}
	return out, nil
}

// revokeLease revokes a node's lease after the fast path's power-off was
// confirmed: its keys go as at an expiry (the node is off; a device that
// lied would find its agent fencing itself at its next renewal).
func (m *Master) revokeLease(ctx context.Context, node string, lease int64, log *slog.Logger) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	if _, err := m.client.Revoke(tctx, clientv3.LeaseID(lease)); err != nil {
		log.Info("lease_revoke", "node", node, "error", err)
		return
	}
	log.Info("lease_revoke", "node", node, "lease", fmt.Sprintf("%x", lease))
}

// dropDeadPrimaryTimeout bounds the early drop of a dead primary's peers.
const dropDeadPrimaryTimeout = 30 * time.Second

// dropDeadPrimary runs on the fast path once node's fence device said off,
// at the same time as its STONITH: for every disk of every drbd instance
// whose primary is node, the secondary gets disk.disconnect with
// PeerFenced, which drops a connection that still counts the dead node as
// primary (DRBD 8.4 sees a powered-off peer only at its next ping, 10 s)
// and connects again at once. It promotes nothing and starts nothing: the
// failover job, which runs only after the fence is confirmed, promotes
// then without waiting for the drop (the agent runs an instance's commands
// in order, so a promotion sent meanwhile waits for it). Errors are
// logged only: the promotion drops the peer itself when it is still
// counted (PeerFenced of disk.primary).
func (m *Master) dropDeadPrimary(ctx context.Context, epoch int64, node string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, dropDeadPrimaryTimeout)
	defer cancel()
	insts, err := m.primariesOn(ctx, node)
	if err != nil {
		log.Info("dead_primary_drop_failed", "node", node, "error", err)
		return
	}
	tag := fmt.Sprintf("%x", time.Now().UnixNano())
	var wg sync.WaitGroup
	for _, in := range insts {
		target := secondaryOf(in, node)
		if in.DiskTemplate != api.DiskTemplateDRBD || !in.AdminUp || target == "" {
			continue
		}
		for i, d := range in.Disks {
			if minorOn(d.DRBD, target) < 0 {
				continue
			}
			c := nodeCmd{ID: fmt.Sprintf("dropdead-%s-%s-%d", tag, in.UUID, i), Node: target, Kind: keys.CmdDiskDisconnect,
				Instance: in, Params: keys.DiskParams{Disk: i, PeerFenced: true}, Timeout: dropDeadPrimaryTimeout}
			wg.Go(func() {
				if _, err := m.runNodeCmd(ctx, epoch, c); err != nil {
					log.Info("dead_primary_drop_failed", "node", node, "instance", in.Name, "disk", i, "secondary", target, "error", err)
					return
				}
				log.Info("dead_primary_dropped", "node", node, "instance", in.Name, "disk", i, "secondary", target)
			})
		}
	}
	wg.Wait()
}
