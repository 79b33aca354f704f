package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// A restarted agent takes over its previous process's lease (lease_resume.go)
// only once Run starts, after the agent opened its hypervisor, volume group
// and DRBD tools. In a loaded guest that start-up alone took 6-8 s, so with a
// 10 s TTL the old lease was often gone before Run asked for it, and the node
// showed unreachable for a few seconds (docs/fencing.md, "An agent that
// restarts"). The bridge closes that gap: the agent command starts it first
// thing, right after reading its credentials, and it renews the saved lease
// with keep-alives until Run takes the lease over (Stop), for at most
// bridgeTTLs TTLs.
//
// Safety is that of the previous process's renewals, not more: the bridge
// extends a lease that still lives (a keep-alive for a lease that expired is
// refused, so nothing is revived), it never grants one, and it stops on its
// own after bridgeTTLs TTLs, so a start-up that hangs cannot keep a node
// "online" that nothing supervises: its lease then expires and the master
// fences the node as after any expiry. While the bridge runs no command is
// executed here, exactly as while the old process was being restarted.

// bridgeTTLs bounds the bridge: a start-up longer than this many TTLs is a
// fault of its own, and the node must show it.
const bridgeTTLs = 3

// LeaseBridge keeps a restarted agent's previous lease alive during the
// agent's start-up. The zero value and nil do nothing.
type LeaseBridge struct {
	id       clientv3.LeaseID
	ctx      context.Context
	stop     context.CancelFunc
	done     chan struct{}
	once     sync.Once
	log      *slog.Logger
	started  time.Time
	mu       sync.Mutex
	renewals int
	why      string // why the bridge ended by itself ("" while it runs or when stopped)
}

// StartLeaseBridge starts renewing the lease that a previous agent process of
// this node saved in storageDir in this boot (lease.json), when there is one;
// it returns nil when there is none. ttl is the lease TTL the agent will use
// (0: the credentials' TTL).
func StartLeaseBridge(cred api.NodeCredentials, storageDir string, ttl time.Duration, dialOptions []grpc.DialOption, log *slog.Logger) *LeaseBridge {
	abs, err := filepath.Abs(storageDir)
	if err != nil || storageDir == "" {
		return nil
	}
	id := readSavedLease(filepath.Join(abs, leaseFileName), cred.Node)
	if id == 0 {
		return nil
	}
	if ttl == 0 {
		ttl = time.Duration(cred.LeaseTTL) * time.Second
	}
	if ttl < 2*time.Second {
		ttl = 5 * time.Second
	}
	timing := keys.NewLeaseTiming(ttl)
	acfg := Config{Credentials: cred, EtcdDialOptions: dialOptions}
	var clis []*clientv3.Client
	for _, ep := range cred.EtcdEndpoints {
		// One client per member, and a member that cannot be reached is
		// left out (the lease keeper's clients, by contrast, are all made).
		ecfg, err := etcdClientConfig(acfg, []string{ep})
		if err != nil {
			break
		}
		cli, err := clientv3.New(ecfg)
		if err != nil {
			continue
		}
		clis = append(clis, cli)
	}
	if len(clis) == 0 {
		return nil
	}
	ctx, stop := context.WithCancel(context.Background())
	b := &LeaseBridge{id: id, ctx: ctx, stop: stop, done: make(chan struct{}),
		log: log.With("node", cred.Node), started: time.Now()}
	b.log.Info("lease_bridge_started", "lease", fmt.Sprintf("%x", int64(id)), "ttl", ttl,
		"reason", "keep the previous agent process's lease while this one starts up")
	go b.run(clis, timing)
	return b
}

// run renews b.id on the members in turn: every timing.Renew after an
// answer, at once on the next member after a failure.
func (b *LeaseBridge) run(clis []*clientv3.Client, timing keys.LeaseTiming) {
	defer close(b.done)
	defer func() {
		for _, c := range clis {
			_ = c.Close()
		}
	}()
	end := b.started.Add(bridgeTTLs * timing.TTL)
	notFound := map[int]bool{}
	i := 0
	for {
		if !time.Now().Before(end) {
			b.end(fmt.Sprintf("start-up took more than %d TTLs: the lease is left to expire", bridgeTTLs))
			return
		}
		ctx, cancel := context.WithTimeout(b.ctx, min(timing.Attempt, time.Until(end)))
		_, err := clis[i].KeepAliveOnce(ctx, b.id)
		cancel()
		wait := 200 * time.Millisecond
		switch {
		case err == nil:
			b.mu.Lock()
			b.renewals++
			b.mu.Unlock()
			clear(notFound)
			wait = timing.Renew
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			notFound[i] = true
			if len(notFound) > len(clis)/2 {
				b.end("the lease is gone (a majority of members said not found)")
				return
			}
			i = (i + 1) % len(clis)
		default:
			i = (i + 1) % len(clis)
		}
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (b *LeaseBridge) end(why string) {
	b.mu.Lock()
	b.why = why
	n := b.renewals
	b.mu.Unlock()
	b.log.Warn("lease_bridge_ended", "lease", fmt.Sprintf("%x", int64(b.id)), "renewals", n, "reason", why)
}

// Stop ends the bridge and waits for it: Run calls it right before it takes
// the lease over. Safe on nil and more than once.
func (b *LeaseBridge) Stop() {
	if b == nil {
		return
	}
	b.once.Do(func() {
		b.stop()
		<-b.done
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.why == "" {
			b.log.Info("lease_bridge_stopped", "lease", fmt.Sprintf("%x", int64(b.id)), "renewals", b.renewals,
				"took", time.Since(b.started).Round(time.Millisecond))
		}
	})
}

// Renewals is how many keep-alives of the bridge were answered.
func (b *LeaseBridge) Renewals() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.renewals
}
