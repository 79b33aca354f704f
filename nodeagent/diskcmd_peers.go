package nodeagent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/storage/drbd"
)

// Disk commands that change a resource's peers or connections
// (replace-disks, verify-disks, split-brain recovery): disk.adjust,
// disk.disconnect, disk.discard-my-data. See docs/drbd.md.

// forgetWait bounds how long disk.adjust waits for a removed peer's
// connection to go before it frees the peer's bitmap slot.
const forgetWait = 30 * time.Second

func (x *Executor) runDiskPeers(ctx context.Context, kind string, b *BlockStorage, res *drbd.Resource, p keys.DiskParams, progress func(string), log *slog.Logger) (any, error) {
	if res == nil {
		return nil, api.Errorf(api.CodeWrongInput, "%s is for drbd disks", kind)
	}
	switch kind {
	case keys.CmdDiskAdjust:
		return nil, diskAdjust(ctx, b, res, p, progress, log)
	case keys.CmdDiskDisconnect:
		if p.PeerFenced {
			return nil, dropFencedPeerEarly(ctx, b, res, progress, log)
		}
		if !connected(b, res.Name) {
			return nil, nil
		}
		progress("drbdadm disconnect " + res.Name)
		return nil, b.DRBD.Disconnect(ctx, res.Name)
	case keys.CmdDiskDiscard:
		return nil, discardMyData(ctx, b, res, progress, log)
	}
	return nil, api.Errorf(api.CodeWrongInput, "unknown command kind %q", kind)
}

// diskAdjust rewrites the resource file from the record, adjusts, and
// frees the bitmap slots of p.Forget once their connections are gone.
func diskAdjust(ctx context.Context, b *BlockStorage, res *drbd.Resource, p keys.DiskParams, progress func(string), log *slog.Logger) error {
	for _, id := range p.Forget {
		if b.DRBD.Version.Major < 9 {
			return api.Errorf(api.CodeWrongInput, "forgetting peers needs DRBD 9 (this node has %s)", b.DRBD.Version)
		}
		if slices.ContainsFunc(res.Hosts, func(h drbd.Host) bool { return h.NodeID == id }) {
			return api.Errorf(api.CodeWrongInput, "node-id %d is still a peer of %s: it cannot be forgotten", id, res.Name)
		}
	}
	if p.Reconnect && connected(b, res.Name) {
		progress("drbdadm disconnect " + res.Name + " (the peer changes)")
		if err := b.DRBD.Disconnect(ctx, res.Name); err != nil {
			return err
		}
	}
	if err := b.DRBD.WriteResource(*res); err != nil {
		return err
	}
	hosts := make([]string, 0, len(res.Hosts))
	for _, h := range res.Hosts {
		hosts = append(hosts, h.Name)
	}
	progress(fmt.Sprintf("drbdadm adjust %s (peers %v)", res.Name, hosts))
	if err := b.DRBD.Adjust(ctx, res.Name); err != nil {
		return err
	}
	for _, id := range p.Forget {
		wctx, cancel := context.WithTimeout(ctx, forgetWait)
		err := b.Monitor.Wait(wctx, res.Name, func(r keys.DRBDResource, ok bool) bool {
			return !ok || !slices.ContainsFunc(r.Peers, func(pr keys.DRBDPeer) bool { return pr.NodeID == id })
		})
		cancel()
		if err != nil {
			return api.Errorf(api.CodeWrongState, "the connection to node-id %d of %s is still there after adjust: %v", id, res.Name, err)
		}
		progress(fmt.Sprintf("drbdsetup forget-peer %s %d", res.Name, id))
		log.Info("drbd_forget_peer", "resource", res.Name, "node_id", id)
		if err := b.DRBD.ForgetPeer(ctx, res.Name, id); err != nil {
			return err
		}
	}
	return nil
}

// discardMyData makes this node the victim of a split brain: it must be
// secondary; its changes since the split are discarded and it resyncs
// from the peer (which needs a connect: disk.adjust there).
func discardMyData(ctx context.Context, b *BlockStorage, res *drbd.Resource, progress func(string), log *slog.Logger) error {
	st, ok := kernelResource(b, res.Name)
	if !ok {
		return api.Errorf(api.CodeWrongState, "resource %s is not up on %s", res.Name, b.Node)
	}
	if st.Role == "Primary" {
		return api.Errorf(api.CodeWrongState, "resource %s is Primary on %s: the split-brain victim must be a secondary (stop or move the instance first)", res.Name, b.Node)
	}
	if connected(b, res.Name) {
		progress("drbdadm disconnect " + res.Name)
		if err := b.DRBD.Disconnect(ctx, res.Name); err != nil {
			return err
		}
	}
	progress("drbdadm connect --discard-my-data " + res.Name)
	log.Warn("drbd_discard_my_data", "resource", res.Name)
	return b.DRBD.Connect(ctx, res.Name, true)
}

// kernelResource is the resource's state from events2 (ok false: the
// kernel does not know it).
func kernelResource(b *BlockStorage, name string) (keys.DRBDResource, bool) {
	if b.Monitor == nil {
		return keys.DRBDResource{}, false
	}
	for _, r := range b.Monitor.Resources() {
		if r.Name == name {
			return r, true
		}
	}
	return keys.DRBDResource{}, false
}

// connected: the kernel has a connection of the resource that is not
// StandAlone (one to disconnect).
func connected(b *BlockStorage, name string) bool {
	r, ok := kernelResource(b, name)
	return ok && slices.ContainsFunc(r.Peers, func(p keys.DRBDPeer) bool { return p.Connection != "StandAlone" })
}

// dropFencedPeer drops the connection to a peer that is fenced but still
// counted as primary (DRBD 8.4 notices a powered-off peer only at its
// next ping, and refuses to promote meanwhile) with disconnect --force (no
// handshake with the dead peer); it reports whether it did. A failure is
// logged only: the promotion then fails and the master retries it.
func dropFencedPeer(ctx context.Context, b *BlockStorage, res *drbd.Resource, progress func(string), log *slog.Logger) bool {
	r, ok := kernelResource(b, res.Name)
	if !ok || !slices.ContainsFunc(r.Peers, func(p keys.DRBDPeer) bool { return p.Role == "Primary" }) {
		return false
	}
	progress("drbdadm disconnect --force " + res.Name + " (the peer is fenced but still counted as primary)")
	if err := b.DRBD.ForceDisconnect(ctx, res.Name); err != nil {
		log.Warn("drbd_drop_fenced_peer", "resource", res.Name, "error", err)
		return false
	}
	progress("disconnected " + res.Name + " from its fenced peer")
	return true
}

// reconnectLater connects a resource whose fenced peer was dropped again
// (StandAlone -> waiting for the peer, whose return is then a rejoin as
// secondary), after the promotion and outside the command: the failover
// does not wait for it.
func reconnectLater(b *BlockStorage, name string, log *slog.Logger) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := b.DRBD.Connect(ctx, name, false); err != nil {
			log.Error("drbd_reconnect_failed", "resource", name, "error", err)
			return
		}
		log.Info("drbd_reconnected", "resource", name, "reason", "waits for its fenced peer's return")
	}()
}

// dropFencedPeerEarly is disk.disconnect with PeerFenced: the leader sends
// it to the secondaries of a dead node's instances while the node's
// STONITH still runs (its fence device already said off; docs/ha.md "The
// fast path"), so that the failover's promotion does not wait for it. A
// connection that still counts the peer as primary is dropped
// (disconnect --force) and connected again at once: the resource then
// waits for the peer's return (its role Unknown), which no longer holds
// off a promotion. Nothing is promoted here, and a resource whose peer is
// not counted as primary is left alone (also one already promoted).
func dropFencedPeerEarly(ctx context.Context, b *BlockStorage, res *drbd.Resource, progress func(string), log *slog.Logger) error {
	if !dropFencedPeer(ctx, b, res, progress, log) {
		return nil
	}
	progress("drbdadm connect " + res.Name + " (waits for the fenced peer's return)")
	if err := b.DRBD.Connect(ctx, res.Name, false); err != nil {
		return fmt.Errorf("connect %s after dropping its fenced peer: %w", res.Name, err)
	}
	log.Info("drbd_fenced_peer_dropped", "resource", res.Name, "reason", "its peer is fenced: the promotion need not wait for DRBD's ping timeout")
	return nil
}
