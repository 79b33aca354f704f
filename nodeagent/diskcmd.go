package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/storage/drbd"
	"github.com/drover-project/drover/nodeagent/storage/lvm"
)

// Disk commands (keys.CmdDisk*): the node side of plain and drbd disks.

// lvName is the logical volume of disk i of an instance.
func lvName(inst string, i int) string { return fmt.Sprintf("%s.disk%d", inst, i) }

// isDiskCommand reports whether kind is one of the disk commands.
func isDiskCommand(kind string) bool {
	switch kind {
	case keys.CmdDiskCreate, keys.CmdDiskPrimary, keys.CmdDiskSecondary, keys.CmdDiskRemove, keys.CmdDiskResize,
		keys.CmdDiskAdjust, keys.CmdDiskDisconnect, keys.CmdDiskDiscard, keys.CmdDiskDeactivate:
		return true
	}
	return false
}

// runDisk executes a disk command (unknown kinds are wrong_input).
func (x *Executor) runDisk(ctx context.Context, cmd keys.NodeCommand, progress func(string), log *slog.Logger) (any, error) {
	if !isDiskCommand(cmd.Kind) {
		return nil, api.Errorf(api.CodeWrongInput, "unknown command kind %q", cmd.Kind)
	}
	b := x.Block
	if b == nil {
		return nil, api.Errorf(api.CodeWrongState, "this node has no volume group (agent without --lvm-vg)")
	}
	var p keys.DiskParams
	if err := decode(cmd.Params, &p); err != nil {
		return nil, err
	}
	inst := cmd.Instance
	if p.Disk < 0 || p.Disk >= len(inst.Disks) {
		return nil, api.Errorf(api.CodeWrongInput, "instance %s has no disk %d", inst.Name, p.Disk)
	}
	d := inst.Disks[p.Disk]
	lv := lvName(inst.Name, p.Disk)
	var res *drbd.Resource
	switch inst.DiskTemplate {
	case "plain":
	case "drbd":
		if b.DRBD == nil {
			return nil, api.Errorf(api.CodeWrongState, "this node has no DRBD module loaded")
		}
		r, err := b.resource(d.DRBD, lv)
		if err != nil {
			return nil, err
		}
		res = r
	default:
		return nil, api.Errorf(api.CodeWrongInput, "disk commands are for the plain and drbd templates, not %q", inst.DiskTemplate)
	}
	switch cmd.Kind {
	case keys.CmdDiskAdjust, keys.CmdDiskDisconnect, keys.CmdDiskDiscard:
		return x.runDiskPeers(ctx, cmd.Kind, b, res, p, progress, log)
	case keys.CmdDiskCreate:
		return x.diskCreate(ctx, b, res, lv, d.SizeMiB, p, progress, log)
	case keys.CmdDiskPrimary, keys.CmdDiskSecondary:
		if res == nil {
			return nil, api.Errorf(api.CodeWrongInput, "a plain disk has no DRBD role")
		}
		if cmd.Kind == keys.CmdDiskPrimary {
			if p.Force {
				log.Warn("drbd_promote_forced", "resource", res.Name)
			}
			if p.PeerFenced {
				// A StandAlone resource here had its dead peer dropped
				// already (the early drop, whose connect failed): it is
				// connected again too, to wait for the peer's return.
				dropped := dropFencedPeer(ctx, b, res, progress, log)
				_, known := kernelResource(b, res.Name)
				standAlone := !dropped && known && !connected(b, res.Name)
				err := b.DRBD.Primary(ctx, res.Name, p.Force)
				if dropped || standAlone {
					reconnectLater(b, res.Name, log)
				}
				return nil, err
			}
			return nil, b.DRBD.Primary(ctx, res.Name, p.Force)
		}
		return nil, b.DRBD.Secondary(ctx, res.Name)
	case keys.CmdDiskDeactivate:
		if res == nil {
			return nil, nil
		}
		if _, err := os.Stat(b.DRBD.ResourceFile(res.Name)); err != nil {
			return nil, nil // never brought up here (or the node rebooted): down already
		}
		return nil, b.DRBD.Down(ctx, res.Name)
	case keys.CmdDiskRemove:
		if res != nil {
			if _, err := os.Stat(b.DRBD.ResourceFile(res.Name)); err == nil {
				if err := b.DRBD.Down(ctx, res.Name); err != nil {
					return nil, err
				}
			}
			if err := b.DRBD.RemoveResource(res.Name); err != nil {
				return nil, err
			}
		}
		return nil, b.VG.Remove(ctx, lv)
	case keys.CmdDiskResize:
		if err := b.VG.Grow(ctx, lv, d.SizeMiB); err != nil {
			return nil, err
		}
		if res != nil && p.Primary {
			if err := b.DRBD.Resize(ctx, res.Name); err != nil {
				return nil, err
			}
			b.Kick() // the new size is in sysfs, not in events2
		}
		return nil, nil
	}
	return nil, nil
}

// resource is the DRBD resource of a disk, with this node among its peers.
func (b *BlockStorage) resource(dd *keys.DRBDDisk, lv string) (*drbd.Resource, error) {
	if dd == nil || len(dd.Nodes) < 2 {
		return nil, api.Errorf(api.CodeWrongInput, "a drbd disk needs its DRBD record with two or more nodes")
	}
	r := &drbd.Resource{Name: dd.Resource, Port: dd.Port, Secret: dd.Secret, ResyncRate: b.ResyncRate}
	mine := false
	for _, n := range dd.Nodes {
		r.Hosts = append(r.Hosts, drbd.Host{Name: n.Node, IP: n.IP, Minor: n.Minor, NodeID: n.NodeID, Disk: b.VG.Path(lv)})
		mine = mine || n.Node == b.Node
	}
	if !mine {
		return nil, api.Errorf(api.CodeWrongInput, "drbd resource %s does not name this node (%s)", dd.Resource, b.Node)
	}
	if err := r.Validate(b.DRBD.Version); err != nil {
		return nil, api.Errorf(api.CodeWrongInput, "%v", err)
	}
	return r, nil
}

// diskCreate: the LV (kept if it exists), for drbd the resource file, new
// metadata only on a new LV, adjust (up), and with p.Primary promotion.
func (x *Executor) diskCreate(ctx context.Context, b *BlockStorage, res *drbd.Resource, lv string, sizeMiB int64, p keys.DiskParams, progress func(string), log *slog.Logger) (*keys.DiskOutput, error) {
	progress(fmt.Sprintf("create volume %s/%s (%d MiB)", b.VG.Name, lv, sizeMiB))
	dev, err := b.VG.Create(ctx, lv, sizeMiB)
	created := err == nil
	if err != nil && !errors.Is(err, lvm.ErrExists) {
		return nil, err
	}
	if res == nil {
		return &keys.DiskOutput{Device: dev}, nil
	}
	undo := func() {
		if !created {
			return
		}
		uctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = b.DRBD.Down(uctx, res.Name)
		_ = b.DRBD.RemoveResource(res.Name)
		_ = b.VG.Remove(uctx, lv)
	}
	if err := b.DRBD.WriteResource(*res); err != nil {
		undo()
		return nil, err
	}
	if created {
		progress("drbdadm create-md " + res.Name)
		if err := b.DRBD.CreateMD(ctx, res.Name); err != nil {
			undo()
			return nil, err
		}
	}
	progress("drbdadm adjust " + res.Name)
	if err := b.DRBD.Adjust(ctx, res.Name); err != nil {
		undo()
		return nil, err
	}
	out := &keys.DiskOutput{Device: drbd.DeviceFor(minorOf(res, b.Node))}
	if !p.Primary {
		return out, nil
	}
	// Wait until the kernel reports the attached disk, then promote.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var st keys.DRBDResource
	err = b.Monitor.Wait(wctx, res.Name, func(r keys.DRBDResource, ok bool) bool {
		st = r
		return ok && r.Disk != "Attaching" && r.Disk != "Diskless" && r.Disk != "Negotiating"
	})
	if err != nil {
		return nil, err
	}
	if st.Role == "Primary" {
		return out, nil
	}
	force := p.InitialSync && st.Disk == "Inconsistent" && !peerUpToDate(st)
	progress(fmt.Sprintf("drbdadm primary %s (force %v)", res.Name, force))
	log.Info("drbd_promote", "resource", res.Name, "force", force, "disk", st.Disk)
	if err := b.DRBD.Primary(ctx, res.Name, force); err != nil {
		return nil, err
	}
	return out, nil
}

func peerUpToDate(r keys.DRBDResource) bool {
	for _, p := range r.Peers {
		if p.PeerDisk == "UpToDate" {
			return true
		}
	}
	return false
}

func minorOf(r *drbd.Resource, node string) int {
	for _, h := range r.Hosts {
		if h.Name == node {
			return h.Minor
		}
	}
	return -1
}

// blockDisk is the device of disk i of a plain or drbd instance on this
// node (ok false for file disks).
func (x *Executor) blockDisk(inst keys.InstanceRecord, i int) (hv.Disk, bool) {
	if x.Block == nil || i >= len(inst.Disks) {
		return hv.Disk{}, false
	}
	switch inst.DiskTemplate {
	case "plain":
		return hv.Disk{Path: x.Block.VG.Path(lvName(inst.Name, i)), Block: true}, true
	case "drbd":
		if dd := inst.Disks[i].DRBD; dd != nil {
			for _, n := range dd.Nodes {
				if n.Node == x.Block.Node {
					return hv.Disk{Path: drbd.DeviceFor(n.Minor), Block: true}, true
				}
			}
		}
	}
	return hv.Disk{}, false
}

// installBlock prepares the disks of a plain or drbd instance for its
// domain: plain LVs are created here; drbd disks must have been made (and
// promoted here) by disk.create. Installing a template onto them is not
// done yet.
func (x *Executor) installBlock(ctx context.Context, inst keys.InstanceRecord, withTemplate bool, progress func(string)) (*keys.CreateOutput, error) {
	if x.Block == nil {
		return nil, api.Errorf(api.CodeWrongState, "this node has no volume group for %s disks", inst.DiskTemplate)
	}
	if withTemplate {
		return nil, api.Errorf(api.CodeWrongInput, "installing a template onto %s disks is not supported yet", inst.DiskTemplate)
	}
	out := &keys.CreateOutput{}
	for i, d := range inst.Disks {
		if inst.DiskTemplate == "plain" {
			progress(fmt.Sprintf("create volume %s (%d MiB)", lvName(inst.Name, i), d.SizeMiB))
			if _, err := x.Block.VG.Create(ctx, lvName(inst.Name, i), d.SizeMiB); err != nil && !errors.Is(err, lvm.ErrExists) {
				return nil, err
			}
		}
		disk, ok := x.blockDisk(inst, i)
		if !ok {
			return nil, api.Errorf(api.CodeWrongInput, "disk %d of %s has no device on this node", i, inst.Name)
		}
		if _, err := os.Stat(disk.Path); err != nil {
			return nil, api.Errorf(api.CodeWrongState, "disk %d of %s: %v (disk.create first)", i, inst.Name, err)
		}
		out.Disks = append(out.Disks, disk.Path)
	}
	return out, nil
}
