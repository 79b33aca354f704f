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

// FailoverOptions tune failoverInstance.
type FailoverOptions struct {
	// IgnoreConsistency allows a forced promotion of a secondary whose disk
	// is not UpToDate, when the old primary is dead (offline or fenced).
	IgnoreConsistency bool
	// PrimaryFenced is the caller's word that the old primary is fenced
	// (STONITH confirmed it off, or its self-fence deadline has passed):
	// it is then treated as a node marked offline, and nothing is sent to
	// it. The instance.failover opcode never sets it (it trusts only the
	// node record's offline flag); the failover controller does.
	PrimaryFenced bool
	// ShutdownTimeout is the guest's time to power off on a live old
	// primary (default 2m).
	ShutdownTimeout time.Duration
}

// failoverInstance moves drbd instance name's primary role to its secondary.
// It is the first half of a failover; call it inside one step of any job
// that holds the instance's lock, then finishFailover in the next step:
//
//	{Name: "failover", Run: func(ctx, sc) error { return m.failoverInstance(ctx, sc, name, opts) }},
//	{Name: "start", Run: func(ctx, sc) error { return m.finishFailover(ctx, sc, name) }},
//
// What it does, in order, refusing (wrong_state, nothing changed) before the
// first command when the failover cannot be done safely:
//  1. checks: drbd template; the secondary is online; its disks are
//     UpToDate (else refused unless IgnoreConsistency with a dead old
//     primary); the old primary is alive, or marked offline, or fenced
//     (PrimaryFenced, or its liveness state is fenced/offline); one that
//     is only unreachable or suspect is refused: it may still write.
//  2. on a live old primary: shuts the instance down and demotes its disks
//     (disk.secondary).
//  3. promotes the disks on the secondary (disk.primary; forced only when
//     the old primary is dead and a disk is not UpToDate). If a promotion
//     fails and the old primary is alive, its disks are promoted again
//     there and the error returned (the instance is where it was).
//  4. stages the record change (new primary; the DRBD peers reordered,
//     primary first) with the step's checkpoint: it commits when the step
//     ends, so a re-run of the step after a leader change finds the record
//     as it was and repeats 2-3, which are idempotent.
//
// finishFailover then defines the instance on the new primary (without a
// template) and starts it when it is marked up.
func (m *Master) failoverInstance(ctx context.Context, sc *jobs.StepContext, name string, opts FailoverOptions) error {
	rec, rev, err := m.instanceRecord(ctx, name)
	if err != nil {
		return err
	}
	plan, err := m.planFailover(ctx, rec, opts)
	if err != nil {
		return err
	}
	old, target := rec.PrimaryNode, plan.target
	sc.Logf("failover of %s from %s to %s (old primary %s; promotion forced: %v)", name, old, target, plan.oldState, plan.force)
	start := time.Now()
	if !plan.oldDead {
		timeout := opts.ShutdownTimeout
		if timeout <= 0 {
			timeout = 2 * time.Minute
		}
		if _, err := m.stepCmd(ctx, sc, "failover-shutdown", nodeCmd{Node: old, Kind: keys.CmdInstanceShutdown, Instance: *rec,
			Params: keys.ShutdownParams{TimeoutSeconds: max(1, int(timeout/time.Second))}, Timeout: timeout + time.Minute}); err != nil {
			return fmt.Errorf("shut %s down on %s: %w", name, old, err)
		}
		sc.Logf("instance %s shut down on %s", name, old)
		if err := m.setDiskRoles(ctx, sc, rec, old, keys.CmdDiskSecondary, keys.DiskParams{}, "failover-demote"); err != nil {
			return err
		}
	}
	if err := m.promoteFailover(ctx, sc, rec, target, plan); err != nil {
		m.stepFailure(ctx, sc, rec, target, haEventPromoteFailed, err)
		if !plan.oldDead {
			if rerr := m.setDiskRoles(ctx, sc, rec, old, keys.CmdDiskPrimary, keys.DiskParams{}, "failover-revert"); rerr != nil {
				return fmt.Errorf("%w (and the disks could not be promoted again on %s: %v)", err, old, rerr)
			}
			sc.Logf("disks of %s promoted again on %s; the instance stays there", name, old)
		}
		return err
	}
	sc.Logf("disks of %s primary on %s after %.1fs", name, target, time.Since(start).Seconds())
	next := *rec
	next.PrimaryNode = target
	next.Disks = append([]keys.DiskSpec(nil), rec.Disks...)
	for i, d := range next.Disks {
		if d.DRBD != nil {
			dd := *d.DRBD
			dd.Nodes = primaryFirst(dd.Nodes, target)
			next.Disks[i].DRBD = &dd
		}
	}
	put, err := store.PutJSON(keys.InstanceKey(name), next)
	if err != nil {
		return err
	}
	sc.If(store.Unchanged(keys.InstanceKey(name), rev))
	sc.Then(put)
	return nil
}

// primaryFirst reorders a disk's peers so that node comes first.
func primaryFirst(nodes []keys.DRBDNode, node string) []keys.DRBDNode {
	out := make([]keys.DRBDNode, 0, len(nodes))
	for _, n := range nodes {
		if n.Node == node {
			out = append(out, n)
		}
	}
	for _, n := range nodes {
		if n.Node != node {
			out = append(out, n)
		}
	}
	return out
}

// setDiskRoles sends kind (disk.primary or disk.secondary) for every disk of
// rec to node.
func (m *Master) setDiskRoles(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, node, kind string, p keys.DiskParams, step string) error {
	for i, d := range rec.Disks {
		if minorOn(d.DRBD, node) < 0 {
			continue
		}
		p.Disk = i
		if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("%s-%d-%s", step, i, node), nodeCmd{Node: node, Kind: kind, Instance: *rec,
			Params: p}); err != nil {
			return fmt.Errorf("%s of disk %d of %s on %s: %w", kind, i, rec.Name, node, err)
		}
	}
	return nil
}

// promoteDeadWithin bounds the retries of a promotion after the old
// primary died: DRBD 8.4 notices a powered-off peer only at its next ping
// (ping-int 10 s, ping-timeout 0.5 s) and refuses to promote while it
// still counts the peer as primary.
const promoteDeadWithin = 15 * time.Second

// promoteFailover promotes rec's disks on target. With a dead old primary
// a refusal is retried every second for up to promoteDeadWithin: the
// fence can come before the secondary's DRBD saw its peer go (the fast
// path for dead nodes confirms a power-off within seconds, docs/ha.md);
// each attempt is its own node command.
func (m *Master) promoteFailover(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, target string, plan *failoverPlan) error {
	deadline := time.Now().Add(promoteDeadWithin)
	for try := 0; ; try++ {
		step := "failover-promote"
		if try > 0 {
			step = fmt.Sprintf("failover-promote-r%d", try)
		}
		err := m.setDiskRoles(ctx, sc, rec, target, keys.CmdDiskPrimary, keys.DiskParams{Force: plan.force, PeerFenced: plan.oldDead}, step)
		if err == nil || !plan.oldDead || time.Now().After(deadline) {
			return err
		}
		sc.Logf("promotion on %s refused (%v): retrying, DRBD there may not have seen the dead peer go yet", target, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// finishFailover is the second half of a failover (see failoverInstance):
// the instance is defined on its new primary (no template install) and
// started there when marked up. The old primary keeps its stopped domain
// definition (and console log): a failover back finds it, and its Secondary
// DRBD device cannot be opened for writing should anyone start it there.
// instance remove removes it with the disks.
func (m *Master) finishFailover(ctx context.Context, sc *jobs.StepContext, name string) error {
	rec, _, err := m.instanceRecord(ctx, name)
	if err != nil {
		return err
	}
	inst := *rec
	inst.OSDigest = ""
	if _, err := m.stepCmd(ctx, sc, "failover-define", nodeCmd{Node: rec.PrimaryNode, Kind: keys.CmdInstanceCreate, Instance: inst, NoInstall: true}); err != nil {
		return fmt.Errorf("define %s on %s: %w", name, rec.PrimaryNode, err)
	}
	if !rec.AdminUp {
		sc.Logf("instance %s is marked down: not started on %s", name, rec.PrimaryNode)
		return nil
	}
	return m.startDomain(ctx, sc, rec)
}

// failoverPlan is what planFailover found.
type failoverPlan struct {
	target   string
	oldDead  bool
	oldState string
	force    bool
}

// planFailover checks that rec can fail over now and how.
func (m *Master) planFailover(ctx context.Context, rec *keys.InstanceRecord, opts FailoverOptions) (*failoverPlan, error) {
	if rec.DiskTemplate != api.DiskTemplateDRBD {
		return nil, api.Errorf(api.CodeWrongState, "instance %s has disk template %s: only drbd instances fail over", rec.Name, rec.DiskTemplate)
	}
	p := &failoverPlan{target: drbdSecondary(rec), oldState: "online"}
	if p.target == "" {
		return nil, api.Errorf(api.CodeWrongState, "instance %s has no secondary node", rec.Name)
	}
	if _, _, err := m.nodeUsable(ctx, p.target); err != nil {
		return nil, fmt.Errorf("secondary of %s: %w", rec.Name, err)
	}
	oldRec, err := m.nodeRecord(ctx, rec.PrimaryNode)
	if err != nil {
		return nil, err
	}
	alive, err := m.keyExists(ctx, keys.NodeStatusKey(rec.PrimaryNode))
	if err != nil {
		return nil, err
	}
	var health keys.NodeHealthRecord
	if _, err := store.GetJSON(ctx, m.client, keys.NodeHealthKey(rec.PrimaryNode), &health); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, unavailable("read node health", err)
	}
	switch {
	case oldRec.Offline:
		p.oldDead, p.oldState = true, "marked offline"
	case opts.PrimaryFenced:
		p.oldDead, p.oldState = true, "fenced"
	case !alive && (health.State == api.NodeFenced || health.State == api.NodeOffline):
		// The liveness controller fenced it (STONITH confirmed off, or
		// its watchdog's self-fence deadline passed).
		p.oldDead, p.oldState = true, "fenced ("+health.Method+")"
	case !alive:
		return nil, api.Errorf(api.CodeWrongState, "primary node %s of %s is unreachable but neither marked offline nor fenced: "+
			"it may still write; mark it offline (drover node modify --offline yes %s) once it is known to be down", rec.PrimaryNode, rec.Name, rec.PrimaryNode)
	}
	res, err := m.drbdResources(ctx, p.target)
	if err != nil {
		return nil, err
	}
	var bad []string
	for i, d := range rec.Disks {
		if d.DRBD == nil {
			return nil, api.Errorf(api.CodeWrongState, "disk %d of %s has no DRBD record", i, rec.Name)
		}
		r, found := res[d.DRBD.Resource]
		if !found || r.Disk != "UpToDate" {
			bad = append(bad, fmt.Sprintf("disk %d %s", i, describeDRBD(r, found)))
		}
	}
	// A copy the primary was seen writing without (ctl_drbd_outdate.go)
	// calls itself UpToDate on DRBD 8.4 and is not.
	od, err := m.outdatedCopy(ctx, rec, p.target)
	if err != nil {
		return nil, err
	}
	if od != nil {
		bad = append(bad, fmt.Sprintf("the copy may be stale: %s was seen writing without it since %s (%s)",
			od.Primary, od.Since.UTC().Format(time.RFC3339), strings.Join(od.Resources, ", ")))
	}
	if len(bad) > 0 {
		if !opts.IgnoreConsistency || !p.oldDead {
			hint := "wait for the sync (instance info shows it)"
			if p.oldDead {
				hint = "--ignore-consistency forces the promotion, losing what the old primary had not replicated"
			}
			return nil, api.Errorf(api.CodeWrongState, "the disks of %s on %s are not UpToDate (%s): %s", rec.Name, p.target, strings.Join(bad, "; "), hint)
		}
		p.force = true
	}
	return p, nil
}
