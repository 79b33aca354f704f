package nodeagent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

func freePort(t *testing.T) int {
	t.Helper()
	return mastertest.FreePorts(t, 1)[0]
}

// startEtcd runs a real single-member embedded etcd.
func startEtcd(t *testing.T) (func(), string) {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	cu, _ := url.Parse("http://127.0.0.1:" + itoa(freePort(t)))
	pu, _ := url.Parse("http://127.0.0.1:" + itoa(freePort(t)))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeFn := func() { once.Do(e.Close) }
	t.Cleanup(closeFn)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	return closeFn, cu.String()
}

func itoa(i int) string { return (&net.TCPAddr{Port: i}).String()[1:] }

func TestLeaseKeeperDeadlineBeforeExpiry(t *testing.T) {
	stopEtcd, ep := startEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := t.Context()
	timing := keys.NewLeaseTiming(3 * time.Second)
	ttl, margin := timing.TTL, timing.Margin
	k := newLeaseKeeper([]leaseMember{{endpoint: ep, cli: cli}}, timing, slog.New(slog.DiscardHandler))
	id, err := k.grant(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// Renewals move the deadline forward.
	d0 := k.deadline()
	time.Sleep(300 * time.Millisecond)
	if err := k.renew(ctx); err != nil {
		t.Fatal(err)
	}
	if !k.deadline().After(d0) {
		t.Fatalf("deadline did not advance: %v -> %v", d0, k.deadline())
	}
	// The lease really is alive at etcd for at least TTL from the last send.
	ttlResp, err := cli.TimeToLive(ctx, id)
	if err != nil || ttlResp.TTL <= 0 {
		t.Fatalf("lease not alive: %v %+v", err, ttlResp)
	}

	// Quorum lost: etcd stops answering. The keeper must declare the lease
	// lost no later than lastSent + TTL - margin (plus scheduling slack), i.e.
	// strictly before etcd could have expired it (lastSent + TTL).
	lastSent := k.deadline().Add(-(ttl - margin))
	stopEtcd()
	var lostAt time.Time
	for {
		err := k.renew(ctx)
		if errors.Is(err, errLeaseLost) {
			lostAt = time.Now()
			break
		}
		if time.Since(lastSent) > 2*ttl {
			t.Fatalf("keeper never declared the lease lost (last err %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	earliestExpiry := lastSent.Add(ttl)
	if !lostAt.Before(earliestExpiry) {
		t.Fatalf("lease declared lost at %v, not before etcd's earliest expiry %v", lostAt, earliestExpiry)
	}
	if lostAt.Before(lastSent.Add(ttl - margin)) {
		t.Fatalf("lease declared lost at %v, before its trusted deadline %v", lostAt, lastSent.Add(ttl-margin))
	}
	t.Logf("lost %.0f ms before etcd's earliest expiry", earliestExpiry.Sub(lostAt).Seconds()*1000)
}

func TestLeaseKeeperExpiredLease(t *testing.T) {
	_, ep := startEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	k := newLeaseKeeper([]leaseMember{{endpoint: ep, cli: cli}}, keys.NewLeaseTiming(2*time.Second), slog.New(slog.DiscardHandler))
	id, err := k.grant(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// Someone (the master, an operator) revokes the lease: the next renewal
	// reports it lost at once.
	if _, err := cli.Revoke(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := k.renew(ctx); !errors.Is(err, errLeaseLost) {
		t.Fatalf("renew of a revoked lease: %v, want errLeaseLost", err)
	}
}
