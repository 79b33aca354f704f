package master

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// The plain and drbd parts of instance add: submit-time checks of the
// nodes, the DRBD allocation at reserve time and the creation of the
// disks on their nodes (see docs/drbd.md, "instance add -t drbd").

// checkBlockAdd checks the disk nodes of a plain or drbd add (p.Node and,
// for drbd, p.SecondaryNode set): volume groups with room, DRBD loaded,
// and a usable secondary. Templates are not installed onto block disks yet:
// such an add needs NoInstall.
func (m *Master) checkBlockAdd(ctx context.Context, p api.InstanceAdd) error {
	if !isBlockTemplate(p.DiskTemplate) {
		return nil
	}
	if !p.NoInstall {
		return api.Errorf(api.CodeWrongInput, "installing a template onto %s disks is not supported yet: add with --no-install (no_install)", p.DiskTemplate)
	}
	var size int64
	for _, d := range p.Disks {
		size += d.SizeMiB
	}
	nodes := []string{p.Node}
	if p.DiskTemplate == api.DiskTemplateDRBD {
		if p.SecondaryNode == "" || p.SecondaryNode == p.Node {
			return api.Errorf(api.CodeWrongInput, "disk template drbd needs two different nodes (-n PRIMARY:SECONDARY)")
		}
		nodes = append(nodes, p.SecondaryNode)
	}
	for i, n := range nodes {
		rec, st, err := m.nodeUsable(ctx, n)
		if err != nil {
			return err
		}
		if i > 0 && (rec.Drained || !rec.VMCapable) {
			return api.Errorf(api.CodeWrongState, "secondary node %s is drained or not vm_capable", n)
		}
		if err := checkBlockNode(n, p.DiskTemplate, st, size); err != nil {
			return err
		}
		if i > 0 && st.Storage.DRBDVersion != "" {
			_, pst, err := m.nodeUsable(ctx, p.Node)
			if err == nil && pst.Storage != nil && majorOf(pst.Storage.DRBDVersion) != majorOf(st.Storage.DRBDVersion) {
				return api.Errorf(api.CodeWrongState, "nodes %s and %s run DRBD %s and %s: the peers of a disk need the same major version",
					p.Node, n, pst.Storage.DRBDVersion, st.Storage.DRBDVersion)
			}
		}
	}
	return nil
}

// majorOf is "8.4" of "8.4.11" and "9" of "9.3.3".
func majorOf(v string) string {
	if len(v) >= 3 && v[:2] == "8." {
		return v[:3]
	}
	if len(v) > 0 {
		return v[:1]
	}
	return v
}

// planBlockDisks fills rec's DiskSpecs of a drbd add with PlanDRBD's ports,
// minors and secrets, planned from every instance record; the step's
// checkpoint commits only if no instance record changed since they were
// read, so two adds never take the same port or minor.
func (m *Master) planBlockDisks(ctx context.Context, sc *jobs.StepContext, p api.InstanceAdd, rec *keys.InstanceRecord) error {
	if p.DiskTemplate != api.DiskTemplateDRBD {
		return nil
	}
	peers := make([]DRBDPeer, 0, 2)
	for _, n := range []string{p.Node, p.SecondaryNode} {
		ip, err := m.replicationIP(ctx, n)
		if err != nil {
			return err
		}
		peers = append(peers, DRBDPeer{Node: n, IP: ip})
	}
	existing, rev, err := m.AllocRevision(ctx)
	if err != nil {
		return err
	}
	plan, err := PlanDRBD(existing, p.Name, peers, len(rec.Disks))
	if err != nil {
		return err
	}
	for i := range rec.Disks {
		d := plan[i]
		rec.Disks[i].DRBD = &d
	}
	sc.If(clientv3.Compare(clientv3.ModRevision(keys.InstancesPrefix).WithPrefix(), "<", rev+1))
	for i, d := range plan {
		sc.Logf("disk %d: DRBD resource %s, port %d, minor %d on %s, minor %d on %s", i, d.Resource, d.Port,
			d.Nodes[0].Minor, d.Nodes[0].Node, d.Nodes[1].Minor, d.Nodes[1].Node)
	}
	return nil
}

// createDRBDDisks makes every disk of a drbd instance on its nodes:
// disk.create on the secondaries (LV, resource, metadata, up), then on the
// primary with promotion, forced only for this first sync of new disks.
func (m *Master) createDRBDDisks(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord) error {
	start := time.Now()
	for i, d := range rec.Disks {
		if d.DRBD == nil {
			return api.Errorf(api.CodeWrongState, "disk %d of %s has no DRBD record", i, rec.Name)
		}
		for _, n := range secondaryNodes(rec) {
			if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("disk-create-%d-%s", i, n), nodeCmd{Node: n, Kind: keys.CmdDiskCreate,
				Instance: *rec, Params: keys.DiskParams{Disk: i}}); err != nil {
				return err
			}
		}
		if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("disk-create-%d-%s", i, rec.PrimaryNode), nodeCmd{Node: rec.PrimaryNode,
			Kind: keys.CmdDiskCreate, Instance: *rec, Params: keys.DiskParams{Disk: i, Primary: true, InitialSync: true}}); err != nil {
			return err
		}
		sc.Logf("disk %d (%s, %d MiB) created on %s (primary) and %v", i, d.DRBD.Resource, d.SizeMiB, rec.PrimaryNode, secondaryNodes(rec))
	}
	sc.Logf("disks of %s created in %.1fs", rec.Name, time.Since(start).Seconds())
	return nil
}

// removeBlockDisks removes every disk of a plain or drbd instance from every
// node holding it (disk.remove: down, resource file, LV), skipping (and
// logging) nodes marked offline. It returns what it could not remove.
func (m *Master) removeBlockDisks(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, step string) []string {
	var failed []string
	for _, n := range diskNodes(rec) {
		if nr, err := m.nodeRecord(ctx, n); err == nil && nr.Offline {
			sc.Logf("node %s is offline: the disks of %s there are not removed", n, rec.Name)
			continue
		}
		if d, err := m.domainStatus(ctx, n, rec.Name); err == nil && d != nil && n != rec.PrimaryNode {
			// A former primary keeps a stopped definition (failover).
			if _, err := m.stepCmd(ctx, sc, step+"-domain-"+n, nodeCmd{Node: n, Kind: keys.CmdInstanceRemove, Instance: *rec}); err != nil {
				failed = append(failed, fmt.Sprintf("domain on %s: %s", n, api.AsError(err).Message))
			}
		}
		for i := range rec.Disks {
			if rec.DiskTemplate == api.DiskTemplateDRBD && minorOn(rec.Disks[i].DRBD, n) < 0 {
				continue
			}
			if rec.DiskTemplate == api.DiskTemplatePlain && n != rec.PrimaryNode {
				continue
			}
			if rec.DiskTemplate == api.DiskTemplateDRBD && n == rec.PrimaryNode {
				// Demote first: a down of a Primary is refused while
				// anything holds the device. A failure shows in the remove.
				_, _ = m.stepCmd(ctx, sc, fmt.Sprintf("%s-demote-%d-%s", step, i, n), nodeCmd{Node: n, Kind: keys.CmdDiskSecondary,
					Instance: *rec, Params: keys.DiskParams{Disk: i}})
			}
			if _, err := m.stepCmd(ctx, sc, fmt.Sprintf("%s-disk-%d-%s", step, i, n), nodeCmd{Node: n, Kind: keys.CmdDiskRemove,
				Instance: *rec, Params: keys.DiskParams{Disk: i}}); err != nil {
				failed = append(failed, fmt.Sprintf("disk %d on %s: %s", i, n, api.AsError(err).Message))
			}
		}
	}
	return failed
}
