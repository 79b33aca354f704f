// Package storetest runs a real single-member etcd for tests of the cluster
// store and of the job queue (packages below master that cannot use
// mastertest, which imports master).
package storetest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Etcd starts an embedded single-member etcd in a temporary directory and
// returns a client of it; both are closed when the test ends.
func Etcd(tb testing.TB) *clientv3.Client {
	tb.Helper()
	ports := FreePorts(tb, 2)
	cfg := embed.NewConfig()
	cfg.Dir = tb.TempDir()
	cfg.LogLevel = "error"
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", ports[0]))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", ports[1]))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	tb.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		tb.Fatal("etcd not ready after 30s")
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{cu.String()}, DialTimeout: 5 * time.Second})
	if err != nil {
		tb.Fatalf("etcd client: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1, taken below
// Linux's ephemeral range (32768-60999): a port the kernel hands out for
// port 0 can be given again to any outgoing connection before the server
// that asked for it listens on it, which made tests fail with "address
// already in use" on a busy machine.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	var lns []net.Listener
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			tb.Fatalf("free port: none found in 20000-32767")
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12768)))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return out
}
