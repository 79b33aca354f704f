package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/nodeagent"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// Config configures a set of simulated nodes.
type Config struct {
	// Credentials of each node, as `drover node credentials` returns them.
	Credentials []api.NodeCredentials
	// StorageRoot holds one storage directory per node (StorageRoot/NODE).
	StorageRoot string
	// CPUs and MemoryMiB of each fake hypervisor (defaults 16 and 65536).
	CPUs      int
	MemoryMiB int64
	// StartRate is how many agents start per second (default 20), so that
	// a thousand of them do not all grant their leases in the same instant.
	StartRate int
	// RegrantRate is how many agents a second ask for a new lease, on
	// average, when all of them lost theirs at once (default 5 x
	// StartRate): each agent waits a random part of N/RegrantRate before
	// it asks (nodeagent.Config.RegrantJitter; 10 s for 1,000 nodes).
	RegrantRate int
	// DialOptions are added to every etcd client of every agent (tests
	// record the agents' requests with them).
	DialOptions func(node string) []grpc.DialOption
}

// simPingInterval and simPingTimeout are the gRPC keepalive of simulated
// nodes' etcd connections.
const (
	simPingInterval = 15 * time.Second
	simPingTimeout  = 10 * time.Second
)

// errNoNodes means Run was given no credentials.
var errNoNodes = errors.New("sim: no nodes")

// Run starts one agent per node and runs them until ctx ends; then it waits
// until every agent has stopped (each revokes its lease). It returns an error
// only when an agent could not be set up.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if len(cfg.Credentials) == 0 {
		return errNoNodes
	}
	if cfg.CPUs <= 0 {
		cfg.CPUs = 16
	}
	if cfg.MemoryMiB <= 0 {
		cfg.MemoryMiB = 64 << 10
	}
	if cfg.StartRate <= 0 {
		cfg.StartRate = 20
	}
	if cfg.RegrantRate <= 0 {
		cfg.RegrantRate = 5 * cfg.StartRate
	}
	jitter := regrantJitter(len(cfg.Credentials), cfg.RegrantRate)
	agents := make([]*nodeagent.Agent, 0, len(cfg.Credentials))
	for _, c := range cfg.Credentials {
		a, err := newAgent(cfg, c, jitter, log)
		if err != nil {
			return err
		}
		agents = append(agents, a)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Second / time.Duration(cfg.StartRate))
	defer tick.Stop()
	for i, a := range agents {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
		wg.Go(func() {
			if err := a.Run(ctx); err != nil {
				log.Error("sim_agent_ended", "node", cfg.Credentials[i].Node, "err", err)
			}
		})
	}
	log.Info("sim_nodes_started", "nodes", len(agents))
	<-ctx.Done()
	return nil
}

// newAgent makes the agent of one simulated node: the fake hypervisor, a
// storage directory of its own, no watchdog and no guest pid files to kill
// (the fake hypervisor's guests are no processes).
func newAgent(cfg Config, c api.NodeCredentials, jitter time.Duration, log *slog.Logger) (*nodeagent.Agent, error) {
	dir := filepath.Join(cfg.StorageRoot, c.Node)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sim: storage of %s: %w", c.Node, err)
	}
	nlog := log.With("node", c.Node)
	drv := fake.New(fake.Options{CPUs: cfg.CPUs, MemoryMiB: cfg.MemoryMiB, Logger: nlog})
	ac := nodeagent.Config{
		Credentials: c, Driver: drv, StorageDir: dir, StagingDir: "disk", APIToken: c.APIToken,
		Fence: nodeagent.FenceConfig{PidDirs: []string{}},
		// After an etcd leader change on a loaded host, all N agents may
		// lose their leases within a second; granting N leases at once,
		// then publishing N statuses and every domain state again, was
		// what kept the next leader from keeping up (docs/scale.md).
		RegrantJitter: jitter,
	}
	// A thousand agents in one process on a busy host cannot answer the
	// transport's pings within the agent's 2 s: a missed ping closes the
	// connection, and the reconnections (TLS handshakes) make the host
	// busier still. Simulated nodes ping less often; lease safety rests on
	// the lease keeper's own deadlines, not on these pings.
	ac.EtcdDialOptions = []grpc.DialOption{grpc.WithKeepaliveParams(keepalive.ClientParameters{
		Time: simPingInterval, Timeout: simPingTimeout, PermitWithoutStream: true})}
	if cfg.DialOptions != nil {
		ac.EtcdDialOptions = append(ac.EtcdDialOptions, cfg.DialOptions(c.Node)...)
	}
	a, err := nodeagent.New(ac, nlog)
	if err != nil {
		return nil, fmt.Errorf("sim: agent of %s: %w", c.Node, err)
	}
	return a, nil
}

// regrantJitter spreads n agents' new leases over n/rate seconds.
func regrantJitter(n, rate int) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(rate)
}
