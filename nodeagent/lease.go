package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseKeeper holds one etcd lease and renews it with KeepAliveOnce, so that it
// knows when the last *answered* keep-alive was *sent*. The lease is certainly
// alive until sentAt+TTL; the agent treats it as lost at sentAt+TTL-margin,
// which is before etcd can expire it (DESIGN.md section 4).
type leaseKeeper struct {
	cli    *clientv3.Client
	ttl    time.Duration
	margin time.Duration

	mu     sync.Mutex
	id     clientv3.LeaseID
	sentAt time.Time // when the last answered keep-alive (or the grant) was sent
}

// errLeaseLost means the lease expired or can no longer be trusted.
var errLeaseLost = errors.New("nodeagent: lease lost")

func (k *leaseKeeper) grant(ctx context.Context) (clientv3.LeaseID, error) {
	sent := time.Now()
	cctx, cancel := context.WithTimeout(ctx, k.ttl/2)
	defer cancel()
	resp, err := k.cli.Grant(cctx, int64((k.ttl+time.Second-1)/time.Second))
	if err != nil {
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	k.mu.Lock()
	k.id, k.sentAt = resp.ID, sent
	k.mu.Unlock()
	return resp.ID, nil
}

// deadline is the moment after which the agent must consider its lease gone.
func (k *leaseKeeper) deadline() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sentAt.Add(k.ttl - k.margin)
}

func (k *leaseKeeper) lease() clientv3.LeaseID {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.id
}

// renew sends one keep-alive and records its send time when it is answered.
// It returns errLeaseLost when etcd says the lease is gone or when the trusted
// deadline passed without an answer.
func (k *leaseKeeper) renew(ctx context.Context) error {
	id := k.lease()
	sent := time.Now()
	dl := k.deadline()
	if !sent.Before(dl) {
		return errLeaseLost
	}
	cctx, cancel := context.WithDeadline(ctx, dl)
	defer cancel()
	_, err := k.cli.KeepAliveOnce(cctx, id)
	switch {
	case err == nil:
		k.mu.Lock()
		if k.id == id {
			k.sentAt = sent
		}
		k.mu.Unlock()
		return nil
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return errLeaseLost
	case ctx.Err() != nil:
		return ctx.Err()
	case !time.Now().Before(dl):
		return errLeaseLost
	default:
		return fmt.Errorf("keep-alive: %w", err)
	}
}

func (k *leaseKeeper) revoke() {
	id := k.lease()
	if id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = k.cli.Revoke(ctx, id)
}
