package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/floatip"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// clusterIPRenewals is how many times per session TTL the holder renews the
// session lease itself (besides the session's own keep-alives), so that it
// knows when the last renewal that etcd acknowledged was sent.
const clusterIPRenewals = 8

// holdMargin is how long before the earliest moment the election session
// can expire the holder gives the address up: the time the release (a
// close) and a late timer may take.
func holdMargin(ttl time.Duration) time.Duration { return max(ttl/4, 300*time.Millisecond) }

// runClusterIP holds the cluster IP while this master leads (controller
// "cluster-ip"). Safety rule: never two holders. The session lease cannot
// expire in etcd before sentAt+TTL, where sentAt is when a renewal that
// etcd acknowledged was sent (etcd resets the expiry to TTL when the
// renewal arrives, and a new etcd leader only extends leases); another
// master can lead only after that expiry. So the address is held only
// until sentAt+TTL-margin of the last acknowledged renewal, and given up
// then unless a newer renewal came back. It is given up as well when the
// leadership ends (before the master resigns) and on shutdown; the kernel
// removes it when the process dies (floatip.Holder).
//
// A leader can also be deposed before its session ends (ctl_deadleader.go,
// when its etcd port refuses connections). So the holder first writes
// ClusterIPHolderKey bound to its session lease, and a leader takes the
// address only when that key is absent or its own: the previous holder's
// key goes when it gave the address up (it deletes it) or when its session
// ended, which per the rule above is after it gave the address up.
func (m *Master) runClusterIP(ctx context.Context, fence store.Fence) error {
	lease, err := m.electionLease(ctx, fence)
	for err != nil {
		if errors.Is(err, jobs.ErrLeadershipLost) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		lease, err = m.electionLease(ctx, fence)
	}
	ttl := time.Duration(m.cfg.SessionTTL) * time.Second
	renewed := make(chan time.Time, 1)
	// The renewals run only while there is an address to hold.
	stopRenew := func() {}
	defer func() { stopRenew() }()
	cfgs := m.watchClusterIP(ctx)
	h := &clusterIPHold{m: m, fence: fence, lease: lease, log: m.log.With("controller", "cluster-ip", "epoch", fence.Epoch)}
	defer h.release("leadership_ended")
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c, ok := <-cfgs:
			if !ok {
				return ctx.Err()
			}
			if c != h.cfg {
				h.release("cluster_ip_changed")
				if c.set() != h.cfg.set() {
					stopRenew()
					stopRenew, h.until = func() {}, time.Time{}
					if c.set() {
						rctx, cancel := context.WithCancel(ctx)
						stopRenew = cancel
						go renewForHold(rctx, m.client, lease, ttl, renewed)
					}
				}
				h.cfg, h.retryAt = c, time.Time{}
			}
		case until := <-renewed:
			h.until = until
		case <-timer.C:
		}
		next := h.step(ctx, time.Now())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(time.Until(next), 0))
	}
}

// clusterIPHold is the controller's state: what to hold, until when the
// lease allows it, and the holder while held.
type clusterIPHold struct {
	m       *Master
	fence   store.Fence
	lease   clientv3.LeaseID
	log     *slog.Logger
	waiting bool // for the previous holder's key to go
	cfg     clusterIPConfig
	until   time.Time // hold no later than this
	held    *floatip.Holder
	heldAt  time.Time
	retryAt time.Time // after a failed take
	fails   int
}

// step takes or gives up the address as the lease allows at now and
// returns when to look again.
func (h *clusterIPHold) step(ctx context.Context, now time.Time) time.Time {
	if !now.Before(h.until) || !h.cfg.set() {
		h.release("renewal_late")
		return now.Add(time.Hour)
	}
	if h.held != nil {
		return h.until
	}
	if now.Before(h.retryAt) {
		return h.retryAt
	}
	if mine, err := h.claim(ctx); err != nil || !mine {
		if !h.waiting {
			h.waiting = true
			h.log.Info("cluster_ip_waiting", "reason", "the previous holder's session has not ended", "error", err)
		}
		return now.Add(100 * time.Millisecond)
	}
	h.waiting = false
	// The take may not outlast the lease's allowance.
	tctx, cancel := context.WithDeadline(ctx, h.until)
	held, err := floatip.Hold(tctx, h.cfg.addr, h.cfg.dev, h.log)
	cancel()
	if err != nil {
		h.fails++
		h.retryAt = now.Add(min(time.Duration(h.fails)*time.Second, 10*time.Second))
		h.log.Warn("cluster_ip_take_failed", "address", h.cfg.addr.String(), "dev", h.cfg.dev, "error", err, "retry_in", time.Until(h.retryAt).Round(time.Millisecond).String())
		if h.retryAt.Before(h.until) {
			return h.retryAt
		}
		return h.until
	}
	if !time.Now().Before(h.until) {
		held.Release()
		return time.Now()
	}
	h.held, h.heldAt, h.fails = held, time.Now(), 0
	h.log.Info("cluster_ip_taken", "address", h.cfg.addr.String(), "dev", h.cfg.dev)
	return h.until
}

// release gives the address up if held, then deletes the holder key (if
// this session's), so that the next leader need not wait for the session
// to end.
func (h *clusterIPHold) release(reason string) {
	if h.held == nil {
		return
	}
	h.held.Release()
	h.log.Info("cluster_ip_released", "address", h.held.Addr.String(), "reason", reason,
		"held_for", time.Since(h.heldAt).Round(time.Millisecond).String())
	h.held = nil
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	k := keys.ClusterIPHolderKey
	if _, err := h.m.client.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(k), "=", h.lease)).Then(clientv3.OpDelete(k)).Commit(); err != nil {
		h.log.Info("cluster_ip_holder_key_left", "error", err)
	}
}

// claim makes the holder key this session's, fenced by the epoch: it is
// refused while the key is another session's. It reports whether the key
// is this session's now.
func (h *clusterIPHold) claim(ctx context.Context) (bool, error) {
	k := keys.ClusterIPHolderKey
	put, err := store.PutJSON(k, keys.ClusterIPHolder{Master: h.m.cfg.Name, Epoch: h.fence.Epoch, Address: h.cfg.addr.String()}, clientv3.WithLease(h.lease))
	if err != nil {
		return false, err
	}
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := h.m.client.Txn(tctx).
		If(clientv3.Compare(clientv3.CreateRevision(h.fence.Key), "=", h.fence.Epoch),
			clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(put).
		Else(clientv3.OpGet(k), clientv3.OpGet(h.fence.Key)).Commit()
	if err != nil {
		return false, fmt.Errorf("claim cluster IP: %w", err)
	}
	if resp.Succeeded {
		return true, nil
	}
	holder, el := resp.Responses[0].GetResponseRange().Kvs, resp.Responses[1].GetResponseRange().Kvs
	if len(el) == 0 || el[0].CreateRevision != h.fence.Epoch {
		return false, jobs.ErrLeadershipLost
	}
	return len(holder) == 1 && holder[0].Lease == int64(h.lease), nil
}

// renewForHold renews lease every ttl/clusterIPRenewals and sends, after
// each renewal etcd acknowledged, the moment until which the address may
// be held: sent + granted TTL - margin.
func renewForHold(ctx context.Context, c *clientv3.Client, lease clientv3.LeaseID, ttl time.Duration, out chan time.Time) {
	every := ttl / clusterIPRenewals
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, ttl/2)
		resp, err := c.KeepAliveOnce(rctx, lease)
		cancel()
		if err == nil && resp.TTL > 0 {
			granted := time.Duration(resp.TTL) * time.Second
			until := sent.Add(granted - holdMargin(granted))
			if !sendLatest(ctx, out, until) {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// electionLease is the lease of the leader's election key (the session's).
func (m *Master) electionLease(ctx context.Context, fence store.Fence) (clientv3.LeaseID, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, fence.Key)
	if err != nil {
		return 0, fmt.Errorf("read election key: %w", err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != fence.Epoch || resp.Kvs[0].Lease == 0 {
		return 0, fmt.Errorf("election key %s: %w", fence.Key, jobs.ErrLeadershipLost)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease), nil
}
