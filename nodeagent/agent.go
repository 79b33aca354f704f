package nodeagent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

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
	// PublishInterval is how often the status is read again and
	// republished if it changed (default TTL/2).
	PublishInterval time.Duration
	// StatusHeartbeat is how often an unchanged status is written anyway
	// (default 5 min; status_publish.go).
	StatusHeartbeat time.Duration
	// Metrics, when set, records lease renewals (see metrics.go).
	Metrics *Metrics
	// Fence configures self-fencing (guest pid files, watchdog).
	Fence FenceConfig
	// Block is the node's LVM volume group and DRBD (nil: file disks only).
	Block *BlockStorage
	// OSSearchPath is where Ganeti OS definitions are looked up (nil:
	// templates.DefaultOSSearchPath).
	OSSearchPath []string
	// Migration is how other nodes' libvirtds reach this node's (migrate.go).
	Migration MigrationEndpoint
	// EtcdDialOptions are added to the agent's etcd clients (tests record
	// requests with them; see nodeagent/sim).
	EtcdDialOptions []grpc.DialOption
	// Bridge, when not nil, kept the previous process's lease alive while
	// this process started (StartLeaseBridge); Run stops it right before it
	// takes that lease over.
	Bridge *LeaseBridge
	// RegrantJitter, when not zero, adds a random wait of up to this to
	// the back-off before a new lease after a session ended (a lost lease,
	// a failed grant), so that many agents that lost their leases at once
	// (an etcd leader change on a loaded host) do not all ask again at
	// once (nodeagent/sim sets it). The node stays fenced meanwhile; a
	// lease revoked early while still trusted is taken again at once, as
	// without it.
	RegrantJitter time.Duration
}

// Agent is the node daemon.
type Agent struct {
	cfg Config
	// hvHealth turns Resources outcomes into the reported hypervisor state.
	hvHealth hvHealth
	timing   keys.LeaseTiming
	log      *slog.Logger
	started  time.Time
	cli      *clientv3.Client
	fencer   *fencer

	store *storage.Manager
	exec  *Executor

	mu       sync.Mutex
	maxEpoch int64
	domains  *domainPublisher
	// svcIPs holds the service addresses of the instances running here
	// (nil without a driver).
	svcIPs *serviceIPs
	// uplink is the outcome of the ping targets' probes (uplink.go);
	// pubKick asks publishLoop for a publish now.
	uplink  uplink
	pubKick chan struct{}
}

// New returns an agent; Run starts it.
func New(cfg Config, log *slog.Logger) (*Agent, error) {
	c := cfg.Credentials
	if c.Node == "" || len(c.EtcdEndpoints) == 0 || c.EtcdUser == "" {
		return nil, errors.New("nodeagent: incomplete credentials (node, etcd endpoints, user)")
	}
	a := &Agent{log: log.With("node", c.Node), started: time.Now(), pubKick: make(chan struct{}, 1)}
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
		a.exec.Block, a.exec.OSSearchPath = cfg.Block, cfg.OSSearchPath
		a.exec.Migration = cfg.Migration
		a.svcIPs = newServiceIPs(filepath.Join(st.Dir(), "serviceips"), a.log)
		a.exec.serviceIPs = a.svcIPs
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
	if cfg.StatusHeartbeat == 0 {
		cfg.StatusHeartbeat = defaultStatusHeartbeat
	}
	a.timing = keys.NewLeaseTiming(cfg.LeaseTTL)
	if err := a.timing.Validate(); err != nil {
		return nil, fmt.Errorf("nodeagent: %w", err)
	}
	a.cfg = cfg
	a.fencer = newFencer(cfg.Driver, cfg.Fence, a.timing, a.log)
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

// etcdConfig is the agent's etcd client configuration for endpoints: TLS
// with the node's client certificate (etcd maps its CN to the node's user),
// or the user's password for an etcd without certificate authentication.
func (a *Agent) etcdConfig(endpoints []string) (clientv3.Config, error) {
	return etcdClientConfig(a.cfg, endpoints)
}

// etcdClientConfig is the etcd client configuration of cfg's credentials
// for endpoints (the agent's clients, the lease bridge's).
func etcdClientConfig(acfg Config, endpoints []string) (clientv3.Config, error) {
	c := acfg.Credentials
	cfg := clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          3 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		AutoSyncInterval:     0,
		DialOptions:          acfg.EtcdDialOptions,
	}
	if c.EtcdCert == "" {
		cfg.Username, cfg.Password = c.EtcdUser, c.EtcdPassword
	}
	if c.CACert == "" && c.EtcdCert == "" {
		return cfg, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CACert)) {
			return cfg, errors.New("nodeagent: credentials hold no valid CA certificate")
		}
		tc.RootCAs = pool
	}
	if c.EtcdCert != "" {
		pair, err := tls.X509KeyPair([]byte(c.EtcdCert), []byte(c.EtcdKey))
		if err != nil {
			return cfg, fmt.Errorf("nodeagent: credentials' client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	cfg.TLS = tc
	return cfg, nil
}

// newLeaseMembers connects one client to each etcd endpoint, for the lease
// keeper.
func (a *Agent) newLeaseMembers() ([]leaseMember, error) {
	var out []leaseMember
	for _, ep := range a.cfg.Credentials.EtcdEndpoints {
		ecfg, err := a.etcdConfig([]string{ep})
		if err != nil {
			return nil, err
		}
		cli, err := clientv3.New(ecfg)
		if err != nil {
			for _, m := range out {
				_ = m.cli.Close()
			}
			return nil, fmt.Errorf("nodeagent: etcd client for %s: %w", ep, err)
		}
		out = append(out, leaseMember{endpoint: ep, cli: cli})
	}
	return out, nil
}

// Run holds the lease and publishes the node's status until ctx ends; then it
// revokes the lease so the node shows unreachable at once.
func (a *Agent) Run(ctx context.Context) error {
	ecfg, err := a.etcdConfig(a.cfg.Credentials.EtcdEndpoints)
	if err != nil {
		return err
	}
	cli, err := clientv3.New(ecfg)
	if err != nil {
		return fmt.Errorf("nodeagent: etcd client: %w", err)
	}
	defer cli.Close()
	a.cli = cli
	uctx, stopUplink := context.WithCancel(ctx)
	var uplinkDone sync.WaitGroup
	uplinkDone.Go(func() { a.uplinkLoop(uctx, cli) })
	defer func() { stopUplink(); uplinkDone.Wait() }()
	if b := a.cfg.Block; b != nil && b.Monitor != nil {
		go b.Monitor.Run(ctx)
	}
	members, err := a.newLeaseMembers()
	if err != nil {
		return err
	}
	k := newLeaseKeeper(members, a.timing, a.log)
	defer k.close()
	defer a.clearLease() // after the revoke: a clean stop leaves no lease to take over
	defer k.revoke()
	// Runs after the disarm below: the last status says "no watchdog", so
	// the master never trusts a clean stop as a self-fence (the guests
	// keep running).
	defer a.publishStopped(k)
	if err := a.fencer.arm(); err != nil {
		a.log.Warn("watchdog_not_armed", "err", err)
	}
	defer a.fencer.disarm()
	backoff := 200 * time.Millisecond
	var until time.Time
	// The lease of this agent's previous process, if it crashed
	// (lease_resume.go): the first session takes it over while it lives.
	a.cfg.Bridge.Stop() // the bridge kept it alive during the start-up (lease_bridge.go)
	resume := a.savedLease()
	for ctx.Err() == nil {
		err := a.session(ctx, k, until, resume)
		if ctx.Err() != nil {
			return nil
		}
		until, resume = time.Time{}, 0
		if errors.Is(err, errLeaseRevoked) && k.trusted() {
			// Revoked before its time while still trusted: take a new
			// lease at once, by the old one's FenceAt (else fence).
			until = k.deadline()
			a.log.Warn("lease_revoked_early", "regrant_by", until)
			continue
		}
		wait := regrantWait(backoff, a.cfg.RegrantJitter)
		a.log.Warn("lease_session_ended", "err", err, "retry_in", wait)
		if !a.fencer.isClean() {
			// No lease: nothing may run here (a grant that failed for a
			// TTL at start, a session that broke off).
			a.svcIPs.dropAll()
			_ = a.fencer.fence()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
	return nil
}

// regrantWait is the wait before a new lease: the back-off and a uniformly
// random part of jitter.
func regrantWait(backoff, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return backoff
	}
	return backoff + rand.N(jitter)
}

// session takes over the lease resume (when not 0 and it still lives) or
// grants a lease (by until, when not zero), publishes, and renews until the
// lease is lost.
func (a *Agent) session(ctx context.Context, k *leaseKeeper, until time.Time, resume clientv3.LeaseID) error {
	if !a.fencer.safe() {
		// The last self-fence could not make sure that no guest runs: no
		// new lease (and no commands) until a fence succeeds.
		if err := a.fencer.fence(); err != nil {
			return fmt.Errorf("node not fenced, no new lease: %w", err)
		}
	}
	id, err := a.takeLease(ctx, k, until, resume)
	if err != nil {
		return err
	}
	a.saveLease(id)
	a.fencer.hold(k.trusted)
	defer a.fencer.hold(nil)
	sctx, stopLoops := context.WithCancel(ctx)
	wait := a.startLoops(sctx, id)
	var pub sync.WaitGroup
	pub.Go(func() { a.publishLoop(sctx, id) })
	defer func() { stopLoops(); pub.Wait(); wait() }()
	tick := time.NewTicker(a.timing.Renew)
	defer tick.Stop()
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
			if !errors.Is(err, errLeaseLost) {
				return err
			}
			if errors.Is(err, errLeaseRevoked) && k.trusted() {
				// A majority of the members say the lease is gone
				// although no renewal deadline passed: an etcd leader
				// that was frozen (SIGSTOP) revokes the leases it saw
				// expire by its own clock when it resumes. The guests
				// may run on if a new lease is taken by the old
				// FenceAt (Run does it): until then the master cannot
				// presume this node fenced (FenceAt < revocation +
				// Grace), and when the new status appears it is online.
				return err
			}
			// Self-fencing point: from here on the master may treat this
			// node as dead, so no domain may keep running here (never
			// two running copies). Commands in flight are cancelled
			// first, then every guest is stopped (fencer.fence: the
			// hypervisor within a deadline, then the guests' processes,
			// then the watchdog); once the commands have wound down, once
			// more; primary DRBD resources are demoted after the guests.
			a.log.Error("lease_lost_self_fence", "deadline", k.deadline(),
				"attempts_failed", k.attemptsFailed.Load())
			a.clearLease() // a process started after this one must not take it over
			a.fencer.hold(nil)
			stopLoops()
			a.svcIPs.dropAll()
			_ = a.fencer.fence()
			wait()
			a.cfg.Metrics.observeSelfFence(a.fencer.fence())
			a.demoteDRBD()
			return err
		}
	}
}

// takeLease takes over resume while it lives, else grants a new lease.
func (a *Agent) takeLease(ctx context.Context, k *leaseKeeper, until time.Time, resume clientv3.LeaseID) (clientv3.LeaseID, error) {
	if resume != 0 {
		t0 := time.Now()
		err := k.resume(ctx, resume)
		took := time.Since(t0).Round(time.Millisecond)
		if err == nil {
			a.log.Info("lease_resumed", "lease", fmt.Sprintf("%x", int64(resume)), "ttl", a.timing.TTL, "took", took,
				"reason", "the previous agent process's lease still lives")
			return resume, nil
		}
		a.log.Info("lease_not_resumed", "lease", fmt.Sprintf("%x", int64(resume)), "took", took, "err", err)
	}
	id, err := k.grant(ctx, until)
	if err != nil {
		return 0, err
	}
	a.log.Info("lease_granted", "lease", fmt.Sprintf("%x", int64(id)), "ttl", a.timing.TTL)
	return id, nil
}

// publishStopped publishes the status once more at a clean stop, after the
// watchdog was disarmed and before the lease is revoked.
func (a *Agent) publishStopped(k *leaseKeeper) {
	id := k.lease()
	if id == 0 || !k.trusted() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timing.Attempt)
	defer cancel()
	if err := a.publish(ctx, id); err != nil {
		a.log.Warn("publish_stopped_failed", "err", err)
	}
}

// publish writes the node's status now (status_publish.go).
func (a *Agent) publish(ctx context.Context, id clientv3.LeaseID) error {
	st, err := a.nodeStatus(ctx)
	if err != nil {
		return err
	}
	return a.putStatus(ctx, id, st)
}

// kickPublish asks publishLoop for a publish now.
func (a *Agent) kickPublish() {
	select {
	case a.pubKick <- struct{}{}:
	default:
	}
}

// nodeStatus is the node's status as published, PublishedAt now.
func (a *Agent) nodeStatus(ctx context.Context) (keys.NodeStatus, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	res, rerr := a.cfg.Hypervisor.Resources(rctx)
	cancel()
	res, hvOK, hvErr := a.hvHealth.observe(res, rerr)
	if rerr != nil {
		a.log.Warn("hypervisor_resources_failed", "err", rerr, "failures", a.hvHealth.failuresInARow(), "hypervisor_ok", hvOK)
	}
	st := keys.NodeStatus{
		Hypervisor:      a.cfg.Hypervisor.Name(),
		HypervisorOK:    hvOK,
		HypervisorError: hvErr,
		Resources:       res,
		AgentVersion:    Version,
		Watchdog:        a.fencer.watchdogStatus(),
		StartedAt:       a.started,
		PublishedAt:     time.Now().UTC(),
		Uplink:          a.uplink.status(),
	}
	st.Bridges, st.BridgesReported = hostBridges(st.Hypervisor)
	if a.exec != nil {
		st.OSDefinitions = OSDefinitions(a.exec.osSearchPath())
	}
	if b := a.cfg.Block; b != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st.Storage = b.Status(sctx)
		cancel()
		// plain and drbd disks come from the volume group.
		st.Resources.DiskTotalMiB, st.Resources.DiskFreeMiB = st.Storage.VGSizeMiB, st.Storage.VGFreeMiB
	}
	return st, nil
}
