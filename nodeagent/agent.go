package nodeagent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/storage"
	"github.com/drover-project/drover/templates"
)

// Version is the agent version reported to the master.
var Version = "0.1.0-dev"

// Hypervisor is what the agent needs of a hypervisor driver to report on it.
type Hypervisor interface {
	// Name is the hypervisor kind: fake, kvm, lxc, xen, openvz, test.
	Name() string
	// Resources reports the host's capacity and what is free.
	Resources(ctx context.Context) (api.NodeResources, error)
}

// Config configures an Agent.
type Config struct {
	// Credentials as issued by `drover node add` / node credentials.
	Credentials api.NodeCredentials
	// Hypervisor the node runs, for status reports. Default: Driver with
	// the storage directory's disk space.
	Hypervisor Hypervisor
	// Driver runs the node's domains. With a Driver the agent executes the
	// leader's NodeCommands, publishes DomainStatus and self-fences (destroys
	// its running domains) when it loses its lease. Without one it only
	// publishes its status.
	Driver hv.Driver
	// StorageDir holds file disks, kernels, container roots and the template
	// cache (required with Driver).
	StorageDir string
	// StagingDir is where templates are unpacked before mkfs: a directory,
	// "disk" (next to the disk) or "" (default: /dev/shm when it is a tmpfs
	// with 4 GiB free, else next to the disk).
	StagingDir string
	// APIToken authenticates template downloads from the masters (a JWT of
	// role node, from the credentials).
	APIToken string
	// DomainResync is how often domain states are re-read (default 3 s).
	DomainResync time.Duration
	// LeaseTTL overrides the credentials' TTL when non-zero.
	LeaseTTL time.Duration
	// PublishInterval is how often the status is republished (default TTL/2).
	PublishInterval time.Duration
	// Margin is how long before the lease's earliest possible expiry the agent
	// considers it lost (default TTL/5).
	Margin time.Duration
	// Metrics, when set, records lease renewals (see metrics.go).
	Metrics *Metrics
}

// Agent is the node daemon.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	started time.Time
	cli     *clientv3.Client

	store *storage.Manager
	exec  *Executor

	mu       sync.Mutex
	maxEpoch int64
	domains  *domainPublisher
}

// New returns an agent; Run starts it.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	c := cfg.Credentials
	if c.Node == "" || len(c.EtcdEndpoints) == 0 || c.EtcdUser == "" {
		return nil, errors.New("nodeagent: incomplete credentials (node, etcd endpoints, user)")
	}
	a := &Agent{log: log.With("node", c.Node), started: time.Now()}
	if cfg.Driver != nil {
		if cfg.StorageDir == "" {
			return nil, errors.New("nodeagent: a storage directory is required with a hypervisor driver")
		}
		st, err := storage.New(cfg.StorageDir)
		if err != nil {
			return nil, fmt.Errorf("nodeagent: %w", err)
		}
		cache, err := templates.NewCache(st.TemplateCacheDir(), a.log)
		if err != nil {
			return nil, fmt.Errorf("nodeagent: template cache: %w", err)
		}
		f, err := newTemplateFetcher(cache, c, cfg.APIToken)
		if err != nil {
			return nil, err
		}
		a.store = st
		a.exec = NewExecutor(cfg.Driver, st, f.Fetch, cfg.StagingDir, a.log)
		if cfg.Hypervisor == nil {
			cfg.Hypervisor = &DriverHypervisor{Driver: cfg.Driver, Storage: st}
		}
	}
	if cfg.Hypervisor == nil {
		return nil, errors.New("nodeagent: no hypervisor")
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = time.Duration(c.LeaseTTL) * time.Second
	}
	if cfg.LeaseTTL < 2*time.Second {
		cfg.LeaseTTL = 5 * time.Second
	}
	if cfg.PublishInterval == 0 {
		cfg.PublishInterval = cfg.LeaseTTL / 2
	}
	if cfg.Margin == 0 {
		cfg.Margin = cfg.LeaseTTL / 5
	}
	a.cfg = cfg
	return a, nil
}

// ReadCredentials loads a credentials file written by `drover node add`.
func ReadCredentials(path string) (api.NodeCredentials, error) {
	var c api.NodeCredentials
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read credentials: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse credentials %s: %w", path, err)
	}
	return c, nil
}

// ReadAPIToken returns the "api_token" of a credentials file ("" if none):
// the node's API token for template downloads.
func ReadAPIToken(path string) string {
	var t struct {
		APIToken string `json:"api_token"`
	}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &t)
	}
	return t.APIToken
}

func (a *Agent) etcdConfig() (clientv3.Config, error) {
	c := a.cfg.Credentials
	cfg := clientv3.Config{
		Endpoints:            c.EtcdEndpoints,
		Username:             c.EtcdUser,
		Password:             c.EtcdPassword,
		DialTimeout:          3 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		AutoSyncInterval:     0,
		Logger:               nil,
	}
	if c.CACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CACert)) {
			return cfg, errors.New("nodeagent: credentials hold no valid CA certificate")
		}
		cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return cfg, nil
}

// Run holds the lease and publishes the node's status until ctx ends; then it
// revokes the lease so the node shows unreachable at once.
func (a *Agent) Run(ctx context.Context) error {
	ecfg, err := a.etcdConfig()
	if err != nil {
		return err
	}
	cli, err := clientv3.New(ecfg)
	if err != nil {
		return fmt.Errorf("nodeagent: etcd client: %w", err)
	}
	defer cli.Close()
	a.cli = cli

	k := &leaseKeeper{cli: cli, ttl: a.cfg.LeaseTTL, margin: a.cfg.Margin}
	defer k.revoke()
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := a.session(ctx, k)
		if ctx.Err() != nil {
			return nil
		}
		a.log.Warn("lease_session_ended", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
	return nil
}

// session grants a lease, publishes, and renews until the lease is lost.
func (a *Agent) session(ctx context.Context, k *leaseKeeper) error {
	id, err := k.grant(ctx)
	if err != nil {
		return err
	}
	a.log.Info("lease_granted", "lease", fmt.Sprintf("%x", int64(id)), "ttl", a.cfg.LeaseTTL)
	if err := a.publish(ctx, id); err != nil {
		return err
	}
	sctx, stopLoops := context.WithCancel(ctx)
	wait := a.startLoops(sctx, id)
	defer func() { stopLoops(); wait() }()
	renewEvery := a.cfg.LeaseTTL / 4
	tick := time.NewTicker(renewEvery)
	defer tick.Stop()
	lastPublish := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		renewStart := time.Now()
		err := k.renew(ctx)
		a.cfg.Metrics.observeLease(time.Since(renewStart), err)
		if err != nil {
			if errors.Is(err, errLeaseLost) {
				// Self-fencing point: from here on the master may treat this
				// node as dead, so no domain may keep running here (never
				// two running copies). Commands in flight are cancelled
				// first, then every active domain is destroyed; once the
				// commands have wound down, once more. (DRBD demotion
				// comes with the DRBD issue.)
				a.log.Error("lease_lost_self_fence", "deadline", k.deadline())
				stopLoops()
				a.fence()
				wait()
				a.fence()
				return err
			}
			a.log.Warn("keepalive_failed", "err", err)
			continue
		}
		if time.Since(lastPublish) >= a.cfg.PublishInterval {
			if err := a.publish(ctx, id); err != nil {
				a.log.Warn("publish_failed", "err", err)
				continue
			}
			lastPublish = time.Now()
		}
	}
}

func (a *Agent) publish(ctx context.Context, id clientv3.LeaseID) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	res, rerr := a.cfg.Hypervisor.Resources(rctx)
	cancel()
	st := keys.NodeStatus{
		Hypervisor:   a.cfg.Hypervisor.Name(),
		HypervisorOK: rerr == nil,
		Resources:    res,
		AgentVersion: Version,
		StartedAt:    a.started,
		PublishedAt:  time.Now().UTC(),
	}
	st.Bridges, st.BridgesReported = hostBridges(st.Hypervisor)
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	key := keys.NodeStatusKey(a.cfg.Credentials.Node)
	if _, err := a.cli.Put(pctx, key, string(b), clientv3.WithLease(id)); err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	return nil
}
