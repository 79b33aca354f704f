package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/storage/drbd"
	"github.com/drover-project/drover/nodeagent/storage/lvm"
)

// BlockStorage is a node's storage for the plain and drbd disk templates:
// an LVM volume group, and DRBD when its module is loaded.
type BlockStorage struct {
	// Node is this node's name (its section in DRBD resource files).
	Node string
	VG   *lvm.VG
	// PV is the device the VG is made on when it does not exist ("" =
	// the VG must exist).
	PV string
	// DRBD is nil when no DRBD module is loaded.
	DRBD    *drbd.Admin
	Monitor *drbd.Monitor
	// ResyncRate for new resources ("" = DRBD's dynamic controller).
	ResyncRate string
	// Reattach: attach again the lower disks DRBD detached after an I/O
	// error (blockstorage_reattach.go). Off by default until it has run
	// on real DRBD with failing disks (the node guests' --vm-disk-faults
	// turn it on).
	Reattach bool

	utils string
	kick  chan struct{}

	usage lastGood[vgUsage] // the last volume group figures read

	// vgsMu guards vgsRead: the read of the volume group in flight, if
	// any (vgsUsage).
	vgsMu   sync.Mutex
	vgsRead *vgsRead
}

// vgsRead is one vgs in flight: done is closed when it returned.
type vgsRead struct {
	since time.Time
	done  chan struct{}
	u     vgUsage
	err   error
}

// vgsReadLimit bounds one vgs (it is killed then, if it can be).
const vgsReadLimit = 2 * time.Minute

// vgsUsage reads the volume group's figures, waiting at most until ctx ends.
// A vgs that waits in the kernel (a scan of a device whose I/O is suspended)
// cannot be killed, and a status that waited for it would never be
// published: the read runs on its own, the status goes on with an error,
// and no second vgs is started while the first has not returned.
func (b *BlockStorage) vgsUsage(ctx context.Context) (int64, int64, error) {
	b.vgsMu.Lock()
	r := b.vgsRead
	if r == nil {
		r = &vgsRead{since: time.Now(), done: make(chan struct{})}
		b.vgsRead = r
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), vgsReadLimit)
			defer cancel()
			r.u.size, r.u.free, r.err = b.VG.Usage(rctx)
			close(r.done)
		}()
	}
	b.vgsMu.Unlock()
	select {
	case <-r.done:
		b.vgsMu.Lock()
		if b.vgsRead == r {
			b.vgsRead = nil
		}
		b.vgsMu.Unlock()
		return r.u.size, r.u.free, r.err
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("lvm: vgs %s has not returned after %s", b.VG.Name, time.Since(r.since).Round(time.Second))
	}
}

// vgUsage is one read of the volume group's size and free space (MiB).
type vgUsage struct{ size, free int64 }

// usageFailLimit is how many failed reads of the volume group in a row are
// reported: fewer are taken for a slow vgs on a loaded node (its 5 s limit),
// and the last figures read stand (a refused instance add otherwise).
const usageFailLimit = 3

// OpenBlockStorage makes the VG when needed and finds DRBD (module loaded:
// its version from /proc/drbd).
func OpenBlockStorage(ctx context.Context, node, vg, pv string, log *slog.Logger) (*BlockStorage, error) {
	b := &BlockStorage{Node: node, VG: &lvm.VG{Name: vg}, PV: pv, kick: make(chan struct{}, 1)}
	if pv != "" {
		if err := b.VG.Ensure(ctx, pv); err != nil {
			return nil, fmt.Errorf("nodeagent: volume group %s on %s: %w", vg, pv, err)
		}
	}
	if v, err := drbd.KernelVersion(); err == nil {
		b.DRBD = &drbd.Admin{Version: v}
		b.Monitor = &drbd.Monitor{Log: log, OnChange: func([]keys.DRBDResource) { b.Kick() }}
		b.utils = drbdUtilsVersion(ctx)
	} else {
		log.Info("drbd_unavailable", "err", err)
	}
	return b, nil
}

var utilsRE = regexp.MustCompile(`(?m)^DRBDADM_VERSION=(\S+)`)

func drbdUtilsVersion(ctx context.Context) string {
	out, _ := exec.CommandContext(ctx, "drbdadm", "--version").CombinedOutput()
	if m := utilsRE.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
}

// Kick asks the publisher to republish the DRBD state soon.
func (b *BlockStorage) Kick() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Status is what NodeStatus shows of the node's storage.
func (b *BlockStorage) Status(ctx context.Context) *keys.NodeStorage {
	st := &keys.NodeStorage{VG: b.VG.Name, DRBDUtils: b.utils}
	if b.DRBD != nil {
		st.DRBDVersion = b.DRBD.Version.String()
	}
	size, free, err := b.vgsUsage(ctx)
	if u, ok := b.usage.observe(vgUsage{size, free}, err, usageFailLimit, false); ok {
		size, free, err = u.size, u.free, nil
	}
	if err != nil {
		st.Error = err.Error()
	}
	st.VGSizeMiB, st.VGFreeMiB = size, free
	return st
}

// publishDRBD puts the DRBD state at NodeDRBDKey, bound to lease, whenever
// it changes (at most every 200 ms) and every 10 s, until ctx ends.
func (b *BlockStorage) publishDRBD(ctx context.Context, cli *clientv3.Client, lease clientv3.LeaseID, log *slog.Logger) {
	if b.Monitor == nil {
		return
	}
	key := keys.NodeDRBDKey(b.Node)
	var last string
	for {
		if res := b.Monitor.Resources(); res != nil {
			for i := range res {
				// events2 reports no event when a resize changes the
				// device's size: the kernel's own figure is current.
				if kib, ok := deviceSizeKiB(res[i].Minor); ok {
					res[i].SizeKiB = kib
				}
			}
			st := keys.DRBDState{Version: b.DRBD.Version.String(), Resources: res, ObservedAt: time.Now().UTC()}
			v, _ := json.Marshal(st)
			cmp, _ := json.Marshal(res)
			if string(cmp) != last {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := cli.Put(pctx, key, string(v), clientv3.WithLease(lease))
				cancel()
				if err != nil {
					log.Warn("drbd_publish_failed", "err", err)
				} else {
					last = string(cmp)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
		case <-time.After(10 * time.Second):
			last = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// deviceSizeKiB reads the size of /dev/drbd<minor> from sysfs.
func deviceSizeKiB(minor int) (int64, bool) {
	if minor < 0 {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/sys/block/drbd%d/size", minor))
	if err != nil {
		return 0, false
	}
	sectors, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || sectors <= 0 {
		return 0, false
	}
	return sectors / 2, true
}

// DemoteAll makes every primary resource on this node secondary (self-
// fencing: once the lease is lost, the master may promote the peers). The
// domains using them are destroyed before.
func (b *BlockStorage) DemoteAll(ctx context.Context, log *slog.Logger) {
	if b.Monitor == nil {
		return
	}
	for _, r := range b.Monitor.Resources() {
		if r.Role != "Primary" {
			continue
		}
		if err := b.DRBD.Secondary(ctx, r.Name); err != nil {
			log.Error("self_fence_demote_failed", "resource", r.Name, "err", err)
			continue
		}
		log.Warn("self_fence_demoted", "resource", r.Name)
	}
}

// demoteDRBD is the DRBD part of self-fencing (after the guests are gone).
func (a *Agent) demoteDRBD() {
	b := a.cfg.Block
	if b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.DemoteAll(ctx, a.log)
}
