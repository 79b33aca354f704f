package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// The drbd-outdate controller: DRBD's "outdate the peer", kept by the leader
// (docs/drbd.md, "A secondary that fell behind"). A DRBD 8.4 secondary that
// loses its connection keeps calling its disk UpToDate, while its primary
// goes on writing alone (fencing dont-care); a failover onto it later would
// bring back a disk without everything the primary wrote since (acknowledged
// writes lost). So whenever an instance's primary publishes a resource as
// Primary and not connected to a secondary, the leader records that
// secondary's copy as possibly stale (keys.DRBDOutdatedRecord, not bound to
// any lease: it outlives the primary's death), and instance.failover (the
// controller's and the operator's) refuses that target unless forced with
// --ignore-consistency. The record goes when the primary sees the secondary
// connected and UpToDate again (resynced), or when the node is no longer
// one of the instance's secondaries (replaced, instance removed).
//
// What it cannot see: the moments between the disconnect and the primary's
// next published state (about 200 ms), plus the controller's look (at most
// outdateSpacing after the state cache has it). A primary that is cut off
// from the masters as well (an isolated node) cannot publish: its writes until its self-fence are the
// known limit of docs/drbd.md (DRBD's resource-and-stonith fencing closes
// it; not done).

// outdateInterval is how often the controller looks when nothing changed;
// outdateSpacing is the least time between two looks (a node's DRBD state
// changes several times a second during a resync).
const (
	outdateInterval = 2 * time.Second
	outdateSpacing  = 300 * time.Millisecond
)

// runDRBDOutdate is the drbd-outdate controller (non-fatal): it looks when a
// node's DRBD state changed in the state cache (within outdateSpacing), and
// every outdateInterval.
func (m *Master) runDRBDOutdate(ctx context.Context, fence store.Fence) error {
	tick := time.NewTicker(outdateInterval)
	defer tick.Stop()
	var seen uint64
	var last time.Time
	for {
		gen, changed := m.cache.drbdChange()
		if gen != seen || time.Since(last) >= outdateInterval {
			seen, last = gen, time.Now()
			octx, cancel := context.WithTimeout(ctx, 20*time.Second)
			if err := m.outdateOnce(octx, fence); err != nil && ctx.Err() == nil {
				m.log.Warn("drbd_outdate_failed", "error", err)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max(0, outdateSpacing-time.Since(last))):
		}
	}
}

// outdateOnce looks at every drbd instance once and writes or removes the
// outdated records accordingly.
func (m *Master) outdateOnce(ctx context.Context, fence store.Fence) error {
	v, err := m.readDRBDView(ctx)
	if err != nil {
		return err
	}
	r, err := m.client.Get(ctx, keys.DRBDOutdatedPrefix, clientv3.WithPrefix())
	if err != nil {
		return unavailable("read DRBD outdated records", err)
	}
	have := map[string]keys.DRBDOutdatedRecord{}
	for _, kv := range r.Kvs {
		var od keys.DRBDOutdatedRecord
		if json.Unmarshal(kv.Value, &od) == nil {
			have[string(kv.Key)] = od
		}
	}
	keep := map[string]bool{}
	var errs []error
	for i := range v.instances {
		rec := &v.instances[i]
		if rec.UUID == "" {
			continue
		}
		secondaries := slices.DeleteFunc(diskNodes(rec), func(n string) bool { return n == rec.PrimaryNode })
		for _, s := range secondaries {
			key := keys.DRBDOutdatedKey(rec.UUID, s)
			_, marked := have[key]
			keep[key] = marked // kept unless the primary shows it resynced
			if rec.CreatingJob != 0 {
				continue
			}
			st := v.drbdOf(rec.PrimaryNode)
			if st == nil {
				continue // the primary publishes nothing: nothing to learn
			}
			stale, synced := peerState(rec, st, s)
			switch {
			case len(stale) > 0 && !marked:
				od := keys.DRBDOutdatedRecord{Instance: rec.Name, Node: s, Primary: rec.PrimaryNode, Resources: stale, Since: st.ObservedAt}
				if od.Since.IsZero() {
					od.Since = time.Now().UTC()
				}
				b, _ := json.Marshal(od)
				if _, err := fence.Txn(ctx, m.client, nil, clientv3.OpPut(key, string(b))); err != nil {
					errs = append(errs, fmt.Errorf("outdate %s on %s: %w", rec.Name, s, err))
					continue
				}
				keep[key] = true
				m.log.Warn("drbd_peer_outdated", "instance", rec.Name, "node", s, "primary", rec.PrimaryNode,
					"resources", strings.Join(stale, ", "), "reason", "the primary writes without it: not a failover target until it is resynced")
			case len(stale) == 0 && synced && marked:
				keep[key] = false
			}
		}
	}
	for key, od := range have {
		if keep[key] {
			continue
		}
		if _, err := fence.Txn(ctx, m.client, nil, clientv3.OpDelete(key)); err != nil {
			errs = append(errs, fmt.Errorf("clear outdated %s on %s: %w", od.Instance, od.Node, err))
			continue
		}
		m.log.Info("drbd_peer_uptodate", "instance", od.Instance, "node", od.Node,
			"outdated_since", od.Since, "reason", "resynced, or no longer a secondary of the instance")
	}
	return errors.Join(errs...)
}

// peerState reads, from the primary's published state st, how each disk of
// rec stands with secondary s: stale lists the resources that are Primary
// and not connected to s (with their connection state); synced is true
// when every disk is connected to s with s UpToDate.
func peerState(rec *keys.InstanceRecord, st *keys.DRBDState, s string) (stale []string, synced bool) {
	synced = true
	for _, d := range rec.Disks {
		if d.DRBD == nil || minorOn(d.DRBD, s) < 0 {
			continue
		}
		r, ok := findResource(*st, d.DRBD.Resource)
		if !ok {
			synced = false // not up on the primary: nothing to tell
			continue
		}
		p := peerNamed(&r, s)
		conn := "no connection"
		if p != nil {
			conn = p.Connection
		}
		if p == nil || p.Connection != "Connected" {
			synced = false
			if r.Role == "Primary" {
				stale = append(stale, r.Name+" "+conn)
			}
			continue
		}
		if p.PeerDisk != "UpToDate" {
			synced = false
		}
	}
	return stale, synced
}

// outdatedCopy returns the outdated record of rec's copy on node, if any.
func (m *Master) outdatedCopy(ctx context.Context, rec *keys.InstanceRecord, node string) (*keys.DRBDOutdatedRecord, error) {
	if rec.UUID == "" {
		return nil, nil
	}
	var od keys.DRBDOutdatedRecord
	if _, err := store.GetJSON(ctx, m.client, keys.DRBDOutdatedKey(rec.UUID, node), &od); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, unavailable("read DRBD outdated record", err)
	}
	return &od, nil
}
