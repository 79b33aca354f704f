package nodeagent

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// TestDomainStatusWrittenOnChange: the publisher writes a domain's state
// when it changes, not again while it stays the same (the key keeps its
// revision across checks), and writes it again when someone else deleted
// the key (a master removing it) at its next check.
func TestDomainStatusWrittenOnChange(t *testing.T) {
	_, ep := startEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := t.Context()
	lease, err := cli.Grant(ctx, 120)
	if err != nil {
		t.Fatal(err)
	}
	drv := fake.New(fake.Options{})
	if err := drv.Define(ctx, hv.DomainSpec{Name: "i1", Kind: hv.KindFake, VCPUs: 1, MemoryMiB: 64}); err != nil {
		t.Fatal(err)
	}
	if err := drv.Start(ctx, "i1"); err != nil {
		t.Fatal(err)
	}
	p := newDomainPublisher(cli, "n1", lease.ID, drv, nil, "", 50*time.Millisecond, slog.New(slog.DiscardHandler))
	p.check = 200 * time.Millisecond
	go p.run(ctx)

	key := keys.NodeDomainKey("n1", "i1")
	// published waits until the key holds state and returns its revision.
	published := func(state string) int64 {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			resp, err := cli.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Kvs) == 1 {
				var d keys.DomainStatus
				if json.Unmarshal(resp.Kvs[0].Value, &d) == nil && d.State == state {
					if resp.Kvs[0].Lease != int64(lease.ID) {
						t.Fatalf("domain key bound to lease %x, want %x", resp.Kvs[0].Lease, lease.ID)
					}
					return resp.Kvs[0].ModRevision
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("domain i1 not published as %s", state)
		return 0
	}
	// checks waits until the publisher has compared with etcd n more times.
	checks := func(n int) {
		t.Helper()
		for range n {
			p.mu.Lock()
			last := p.checked
			p.mu.Unlock()
			deadline := time.Now().Add(20 * time.Second)
			for {
				p.mu.Lock()
				moved := p.checked.After(last)
				p.mu.Unlock()
				if moved {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the publisher does not check its keys")
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}

	rev := published(keys.DomainRunning)
	checks(3)
	if now := published(keys.DomainRunning); now != rev {
		t.Errorf("unchanged running state written again: revision %d, then %d", rev, now)
	}
	if _, err := cli.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	rev = published(keys.DomainRunning) // written again at the next check
	if err := drv.Destroy(ctx, "i1"); err != nil {
		t.Fatal(err)
	}
	if now := published(keys.DomainStopped); now <= rev {
		t.Errorf("stopped state at revision %d, not after %d", now, rev)
	}
}
