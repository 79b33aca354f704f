package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
)

// leaseMember is one etcd member as the lease keeper sees it: a client
// connected to that member's endpoint only, so that a request to it cannot
// be routed elsewhere and a stalled member costs one attempt, not the lease.
type leaseMember struct {
	endpoint string
	cli      *clientv3.Client
}

// leaseKeeper holds one etcd lease and renews it with KeepAliveOnce, so that it
// knows when the last *answered* keep-alive was *sent*. The lease is certainly
// alive until sentAt+TTL; the agent treats it as lost at timing.FenceAt(sentAt),
// which is before etcd can expire it (DESIGN.md section 4, docs/fencing.md).
// Each attempt goes to one member with its own deadline (timing.Attempt);
// when it fails the next member is tried, until one answers or FenceAt.
type leaseKeeper struct {
	members []leaseMember
	timing  keys.LeaseTiming
	now     func() time.Time // the clock; time.Now outside tests
	log     *slog.Logger

	// attemptsFailed counts keep-alive attempts that a member did not
	// answer (the next member was tried); renewalsFailed counts renewals
	// that no member answered.
	attemptsFailed, renewalsFailed atomic.Int64

	mu     sync.Mutex
	id     clientv3.LeaseID
	sentAt time.Time // when the last answered keep-alive (or the grant) was sent
	first  int       // the member to try first: the last one that answered
}

// errLeaseLost means the lease expired or can no longer be trusted.
var errLeaseLost = errors.New("nodeagent: lease lost")

// errLeaseRevoked means a majority of the members said the lease is gone
// (it was revoked, perhaps before its time: see docs/fencing.md).
var errLeaseRevoked = fmt.Errorf("%w: revoked", errLeaseLost)

func newLeaseKeeper(members []leaseMember, t keys.LeaseTiming, log *slog.Logger) *leaseKeeper {
	return &leaseKeeper{members: members, timing: t, now: time.Now, log: log}
}

// grant asks the members in turn, each within timing.Attempt, for a new lease
// until one grants it, a TTL has passed or until (when not zero).
func (k *leaseKeeper) grant(ctx context.Context, until time.Time) (clientv3.LeaseID, error) {
	start := k.now()
	if until.IsZero() {
		until = start.Add(k.timing.TTL)
	}
	var last error
	for i := 0; ctx.Err() == nil && k.now().Before(until); i++ {
		m := k.members[(k.firstMember()+i)%len(k.members)]
		sent := k.now()
		cctx, cancel := context.WithTimeout(ctx, min(k.timing.Attempt, until.Sub(sent)))
		resp, err := m.cli.Grant(cctx, k.timing.TTLSeconds())
		cancel()
		if err == nil {
			k.mu.Lock()
			k.id, k.sentAt = resp.ID, sent
			k.mu.Unlock()
			return resp.ID, nil
		}
		last = fmt.Errorf("member %s: %w", m.endpoint, err)
		k.pause(ctx, i, until)
	}
	if last == nil {
		last = ctx.Err()
	}
	return 0, fmt.Errorf("grant lease: %w", last)
}

// pause waits a little (never past until) after each round of members that
// all failed, so members that refuse at once are not hammered.
func (k *leaseKeeper) pause(ctx context.Context, attempt int, until time.Time) {
	if (attempt+1)%len(k.members) != 0 {
		return
	}
	d := min(50*time.Millisecond, until.Sub(k.now()))
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func (k *leaseKeeper) firstMember() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.first
}

// deadline is the moment after which the agent must consider its lease gone.
func (k *leaseKeeper) deadline() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.timing.FenceAt(k.sentAt)
}

// trusted reports whether the lease may still be relied on now.
func (k *leaseKeeper) trusted() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.timing.Trusted(k.sentAt, k.now())
}

func (k *leaseKeeper) lease() clientv3.LeaseID {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.id
}

// renew sends keep-alives, one member at a time, until one is answered (nil),
// a majority of the members say the lease is gone, or FenceAt passes without
// an answer (errLeaseLost). Only an answered keep-alive moves sentAt. One
// member's "not found" is not enough: a member that was stopped and resumed
// answers so for a while for a lease that lives (seen with SIGSTOP of the
// etcd leader); the deadline alone decides safety, a majority only makes a
// revoked lease end sooner.
func (k *leaseKeeper) renew(ctx context.Context) error {
	k.mu.Lock()
	id, sentAt, first := k.id, k.sentAt, k.first
	k.mu.Unlock()
	notFound := map[int]bool{}
	for i := 0; ; i++ {
		now := k.now()
		if !k.timing.Trusted(sentAt, now) {
			k.renewalsFailed.Add(1)
			return errLeaseLost
		}
		mi := (first + i) % len(k.members)
		m := k.members[mi]
		deadline := k.timing.AttemptDeadline(sentAt, now)
		if len(k.members) == 1 {
			// No other member to try: an attempt cut off at its own
			// deadline would only be sent again to the same member,
			// losing an answer that is merely slow (a loaded host, a
			// TCG guest). It may take until FenceAt: an answer moves
			// sentAt only to when it was sent, so safety is unchanged.
			deadline = k.timing.FenceAt(sentAt)
		}
		cctx, cancel := context.WithTimeout(ctx, deadline.Sub(now))
		_, err := m.cli.KeepAliveOnce(cctx, id)
		cancel()
		switch {
		case err == nil:
			k.mu.Lock()
			if k.id == id && now.After(k.sentAt) {
				k.sentAt, k.first = now, mi
			}
			k.mu.Unlock()
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			notFound[mi] = true
			if len(notFound) > len(k.members)/2 {
				k.renewalsFailed.Add(1)
				return errLeaseRevoked
			}
		}
		k.attemptsFailed.Add(1)
		k.log.Warn("keepalive_attempt_failed", "member", m.endpoint, "err", err,
			"left", k.timing.FenceAt(sentAt).Sub(k.now()).Round(time.Millisecond))
		k.pause(ctx, i, k.timing.FenceAt(sentAt))
	}
}

func (k *leaseKeeper) revoke() {
	id := k.lease()
	if id == 0 {
		return
	}
	for _, m := range k.members {
		ctx, cancel := context.WithTimeout(context.Background(), k.timing.Attempt)
		_, err := m.cli.Revoke(ctx, id)
		cancel()
		if err == nil || errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return
		}
	}
}

func (k *leaseKeeper) close() {
	for _, m := range k.members {
		_ = m.cli.Close()
	}
}
