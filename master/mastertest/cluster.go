package mastertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store/storetest"
)

// Options tune a test cluster. Zero values give fast test timings.
type Options struct {
	// Masters is 1 (default) or 3.
	Masters int
	// Name of the cluster (default "test").
	Name string
	// SessionTTL in seconds (default 2); TickMs/ElectionMs of etcd (default
	// 50/500, faster than production).
	SessionTTL         int
	TickMs, ElectionMs uint
	// API starts each master's HTTPS API on a free port.
	API bool
	// JobArchiveAge and ArchiveInterval (default: master defaults).
	JobArchiveAge, ArchiveInterval time.Duration
	// NodeLeaseTTL of the cluster (default 5).
	NodeLeaseTTL int
	// Extra lets a test change each master's config.
	Extra func(*master.Config)
	// Log receives the masters' logs (default: discarded, or stderr when
	// DROVER_TEST_LOG is set).
	Log *slog.Logger
}

// Cluster is a running test cluster.
type Cluster struct {
	// Dir is the cluster directory.
	Dir string
	// Masters by index.
	Masters []*Instance

	tb   testing.TB
	opts Options
}

// Instance is one master of a test cluster.
type Instance struct {
	Name   string
	Config master.Config
	// M is the running master (replaced by Restart).
	M *master.Master

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// Start starts a cluster and waits until every master is ready and one leads.
// It is stopped when the test ends.
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	if opts.Masters == 0 {
		opts.Masters = 1
	}
	if opts.Name == "" {
		opts.Name = "test"
	}
	if opts.TickMs == 0 {
		opts.TickMs, opts.ElectionMs = 50, 500
	}
	if opts.Log == nil {
		if os.Getenv("DROVER_TEST_LOG") != "" {
			opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		} else {
			opts.Log = slog.New(slog.DiscardHandler)
		}
	}
	dir := tb.TempDir()
	ports := FreePorts(tb, 3*opts.Masters)
	io := master.InitOptions{Name: opts.Name, NodeLeaseTTL: opts.NodeLeaseTTL}
	for i := range opts.Masters {
		io.Masters = append(io.Masters, keys.MasterSpec{
			Name: fmt.Sprintf("m%d", i+1), IP: "127.0.0.1",
			APIPort: ports[3*i], ClientPort: ports[3*i+1], PeerPort: ports[3*i+2],
		})
	}
	if err := master.InitClusterDir(dir, io); err != nil {
		tb.Fatalf("init cluster dir: %v", err)
	}
	c := &Cluster{Dir: dir, tb: tb, opts: opts}
	for i, spec := range io.Masters {
		cfg := master.Config{
			Dir: dir, Name: spec.Name, SessionTTL: opts.SessionTTL,
			TickMs: opts.TickMs, ElectionMs: opts.ElectionMs,
			JobArchiveAge: opts.JobArchiveAge, ArchiveInterval: opts.ArchiveInterval,
			APIListen: "-",
		}
		if opts.API {
			cfg.APIListen = net.JoinHostPort(spec.IP, fmt.Sprint(spec.APIPort))
		}
		if opts.Extra != nil {
			opts.Extra(&cfg)
		}
		c.Masters = append(c.Masters, &Instance{Name: spec.Name, Config: cfg})
		_ = i
	}
	tb.Cleanup(c.StopAll)
	var wg sync.WaitGroup
	errs := make([]error, len(c.Masters))
	for i := range c.Masters {
		wg.Go(func() { errs[i] = c.start(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("start cluster: %v", err)
	}
	c.WaitLeader(30 * time.Second)
	return c
}

// start runs master i and waits until it is ready.
func (c *Cluster) start(i int) error {
	in := c.Masters[i]
	m, err := master.New(in.Config, c.opts.Log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	select {
	case <-m.Ready():
	case err := <-done:
		cancel()
		return fmt.Errorf("master %s: %w", in.Name, err)
	case <-time.After(60 * time.Second):
		cancel()
		return fmt.Errorf("master %s not ready after 60s", in.Name)
	}
	in.mu.Lock()
	in.M, in.cancel, in.done = m, cancel, done
	in.mu.Unlock()
	return nil
}

// Running reports whether the instance runs.
func (in *Instance) Running() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cancel != nil
}

// Stop stops master i cleanly (it resigns, its etcd member stops).
func (c *Cluster) Stop(i int) { c.stop(i, false) }

// Kill stops master i as kill -9 would, as far as the others can tell: its
// etcd member stops without a leadership transfer and it neither resigns nor
// revokes its lease; the others take over when the lease expires.
func (c *Cluster) Kill(i int) { c.stop(i, true) }

func (c *Cluster) stop(i int, crash bool) {
	in := c.Masters[i]
	in.mu.Lock()
	m, cancel, done := in.M, in.cancel, in.done
	in.cancel = nil
	in.mu.Unlock()
	if cancel == nil {
		return
	}
	if crash {
		m.Crash()
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !crash {
			c.tb.Logf("master %s stopped: %v", in.Name, err)
		}
	case <-time.After(30 * time.Second):
		c.tb.Errorf("master %s did not stop within 30s", in.Name)
	}
}

// Restart starts a stopped master i again.
func (c *Cluster) Restart(i int) {
	c.tb.Helper()
	if err := c.start(i); err != nil {
		c.tb.Fatalf("restart: %v", err)
	}
}

// StopAll stops every master.
func (c *Cluster) StopAll() {
	var wg sync.WaitGroup
	for i := range c.Masters {
		wg.Go(func() { c.Stop(i) })
	}
	wg.Wait()
}

// Leader returns the index of the running master that leads, or -1.
func (c *Cluster) Leader() int {
	for i, in := range c.Masters {
		if !in.Running() {
			continue
		}
		if ok, _ := in.M.Leading(); ok {
			return i
		}
	}
	return -1
}

// WaitLeader waits until a running master leads (not excluding any) and
// returns its index.
func (c *Cluster) WaitLeader(timeout time.Duration) int {
	c.tb.Helper()
	return c.WaitLeaderOther(-1, timeout)
}

// WaitLeaderOther waits until a running master other than not leads.
func (c *Cluster) WaitLeaderOther(not int, timeout time.Duration) int {
	c.tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, in := range c.Masters {
			if i == not || !in.Running() {
				continue
			}
			if ok, _ := in.M.Leading(); ok {
				return i
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.tb.Fatalf("no leader (other than %d) after %v", not, timeout)
	return -1
}

// Any returns a running master other than not.
func (c *Cluster) Any(not int) *master.Master {
	for i, in := range c.Masters {
		if i != not && in.Running() {
			return in.M
		}
	}
	c.tb.Fatalf("no running master")
	return nil
}

// AdminToken returns the cluster's admin token and its principal.
func (c *Cluster) AdminToken() (string, api.Principal) {
	c.tb.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "admin.token"))
	if err != nil {
		c.tb.Fatalf("read admin token: %v", err)
	}
	tok := string(b[:len(b)-1])
	p, err := c.Masters[0].M.Verifier().Verify(tok, time.Now())
	if err != nil {
		c.tb.Fatalf("verify admin token: %v", err)
	}
	return tok, p
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1 (see
// storetest.FreePorts).
func FreePorts(tb testing.TB, n int) []int { return storetest.FreePorts(tb, n) }

// WaitHealthy waits until every master is running, registered and its etcd
// member answers, as ClusterInfo of a running master reports.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.tb.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ci, err := c.Any(-1).ClusterInfo(ctx)
		cancel()
		healthy := err == nil && ci.Leader != ""
		for i := 0; healthy && i < len(ci.Masters); i++ {
			healthy = ci.Masters[i].Healthy
		}
		if healthy {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.tb.Fatalf("cluster not healthy after %v", timeout)
}
