package master

import (
	"context"
	"fmt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// checkMigrationTarget checks that node can take rec's domain: usable
// (exists, not offline, agent alive), vm_capable, not drained, the same
// hypervisor, enough free memory (the workload driver counts none).
func (m *Master) checkMigrationTarget(ctx context.Context, rec *keys.InstanceRecord, node string) error {
	n, st, err := m.nodeUsable(ctx, node)
	if err != nil {
		return err
	}
	switch {
	case !n.VMCapable:
		return api.Errorf(api.CodeWrongState, "node %s is not vm_capable", node)
	case n.Drained:
		return api.Errorf(api.CodeWrongState, "node %s is drained: it takes no instances", node)
	case st.Hypervisor != rec.Hypervisor:
		return api.Errorf(api.CodeWrongInput, "node %s runs hypervisor %s, instance %s needs %s", node, st.Hypervisor, rec.Name, rec.Hypervisor)
	case !st.HypervisorOK:
		return api.Errorf(api.CodeWrongState, "the hypervisor of node %s reports a failure", node)
	case rec.Hypervisor != "workload" && st.Resources.MemoryFreeMiB < rec.MemoryMiB:
		return api.Errorf(api.CodeInsufficientResources, "node %s has %d MiB of memory free, instance %s needs %d MiB",
			node, st.Resources.MemoryFreeMiB, rec.Name, rec.MemoryMiB)
	}
	return nil
}

// chooseMigrationTarget picks the node for an unmirrored instance: of the
// nodes that can take it, the one with most free memory.
func (m *Master) chooseMigrationTarget(ctx context.Context, rec *keys.InstanceRecord) (string, error) {
	v, err := m.readClusterView(ctx)
	if err != nil {
		return "", err
	}
	best, bestFree := "", int64(-1)
	var why []string
	for _, name := range sortedKeys(v.nodes) {
		if name == rec.PrimaryNode {
			continue
		}
		if err := m.checkMigrationTarget(ctx, rec, name); err != nil {
			why = append(why, api.AsError(err).Message)
			continue
		}
		_, st, _ := m.nodeUsable(ctx, name)
		if st != nil && st.Resources.MemoryFreeMiB > bestFree {
			best, bestFree = name, st.Resources.MemoryFreeMiB
		}
	}
	if best == "" {
		return "", api.Errorf(api.CodeInsufficientResources, "no node can take instance %s: %v", rec.Name, why)
	}
	return best, nil
}

// forgetOn removes what is left of rec on node, which is not its primary
// (a domain that does not run, unmirrored disks).
func (m *Master) forgetOn(ctx context.Context, sc *jobs.StepContext, tag string, rec *keys.InstanceRecord, node string) error {
	return m.forgetCopy(ctx, sc, tag, rec, node, false)
}

// forgetCopy is forgetOn; with running, a copy that runs is destroyed too
// (only when the primary's own copy was seen running).
func (m *Master) forgetCopy(ctx context.Context, sc *jobs.StepContext, tag string, rec *keys.InstanceRecord, node string, running bool) error {
	if node == "" || node == rec.PrimaryNode {
		return nil // never the primary's copy
	}
	c := nodeCmd{Node: node, Kind: keys.CmdInstanceMigrateForget, Instance: *rec}
	if running {
		c.Params = keys.MigrateForgetParams{Running: true}
		sc.Logf("%s runs on its primary %s and also on %s: the copy on %s is destroyed", rec.Name, rec.PrimaryNode, node, node)
	}
	if _, err := m.stepCmd(ctx, sc, tag+"-forget-"+node, c); err != nil {
		return fmt.Errorf("clean %s of %s: %w", rec.Name, node, err)
	}
	if rec.DiskTemplate == "drbd" {
		sc.Logf("stopped domain of %s on %s removed (its disks stay: the secondary)", rec.Name, node)
	} else {
		sc.Logf("what was left of %s on %s removed", rec.Name, node)
	}
	return nil
}

// movePrimary makes node rec's primary in its record (drbd: the peers'
// order too, primary first), with the step's checkpoint.
func (m *Master) movePrimary(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, node string) error {
	cur, rev, err := m.instanceRecord(ctx, rec.Name)
	if err != nil {
		return err
	}
	if cur.UUID != rec.UUID {
		return api.Errorf(api.CodeWrongState, "instance %s was replaced meanwhile", rec.Name)
	}
	old := cur.PrimaryNode
	next := *cur
	next.PrimaryNode = node
	next.Disks = drbdPrimaryFirst(cur.Disks, node)
	put, err := store.PutJSON(keys.InstanceKey(rec.Name), next)
	if err != nil {
		return err
	}
	sc.If(store.Unchanged(keys.InstanceKey(rec.Name), rev))
	// The old primary's published state stays: its agent updates it, and
	// forget-source finds the copy there by it.
	sc.Then(put)
	sc.Logf("instance %s: primary node %s (was %s)", rec.Name, node, old)
	return nil
}
