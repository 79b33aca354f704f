package master

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/rapi"
	"github.com/drover-project/drover/api/ui"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/templates"
)

// Master is one master process: etcd member (or client), election candidate,
// API server and, while it leads, job executor, liveness watcher and archiver.
type Master struct {
	cfg      Config
	log      *slog.Logger
	dir      *ClusterDir
	me       keys.MasterSpec
	reg      *jobs.Registry
	signer   *api.Signer
	verifier *api.Verifier

	// Set by Run before ready is closed.
	etcd    *embed.Etcd
	client  *clientv3.Client
	queue   *jobs.Queue
	tokens  *tokenCache
	started time.Time
	apiAddr string

	ready chan struct{}
	mu    sync.Mutex
	lead  leadState
	// stopLead, when set, ends the current leadership (tests).
	stopLead context.CancelFunc

	// The template store, opened on first use (backend_templates.go).
	cache stateCache // instances, nodes, agents' state (instance_cache.go)

	tstoreOnce sync.Once
	tstore     *templates.Store
	tstoreErr  error

	// ha counts the liveness and failover controllers' actions.
	ha *haMetrics
}

// leadState is this master's view of its own leadership.
type leadState struct {
	leading bool
	epoch   int64
	since   time.Time
}

// New checks cfg and loads the cluster directory; Run starts the master.
func New(cfg Config, log *slog.Logger) (*Master, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := LoadClusterDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	me, err := d.Master(cfg.Name)
	if err != nil {
		return nil, err
	}
	key, err := d.SigningKey()
	if err != nil {
		return nil, err
	}
	m := &Master{
		cfg: cfg, log: log.With("master", cfg.Name), dir: d, me: me,
		signer:   api.NewSigner(key, d.Issuer(), TokenAudience),
		verifier: api.NewVerifier(key.Public().(ed25519.PublicKey), d.Issuer(), TokenAudience),
		ready:    make(chan struct{}),
		ha:       newHAMetrics(),
	}
	m.reg = jobs.NewRegistry()
	if err := m.registerOps(); err != nil {
		return nil, err
	}
	return m, nil
}

// Name is the master's name.
func (m *Master) Name() string { return m.cfg.Name }

// Ready is closed once etcd is up, bootstrapped and the API serves.
func (m *Master) Ready() <-chan struct{} { return m.ready }

// Client is the master's etcd client (root); valid after Ready.
func (m *Master) Client() *clientv3.Client { return m.client }

// APIAddr is the address the API listens on; valid after Ready ("" if none).
func (m *Master) APIAddr() string { return m.apiAddr }

// Verifier checks the cluster's tokens.
func (m *Master) Verifier() *api.Verifier { return m.verifier }

// Leading reports whether this master leads, and its epoch.
func (m *Master) Leading() (bool, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lead.leading, m.lead.epoch
}

// Run runs the master until ctx ends; it returns nil on a clean stop.
func (m *Master) Run(ctx context.Context) error {
	m.started = time.Now().UTC()
	endpoints := []string{}
	if len(m.cfg.EtcdEndpoints) > 0 {
		endpoints = m.cfg.EtcdEndpoints
	} else {
		e, err := startEtcd(ctx, m.dir, m.cfg)
		if err != nil {
			return err
		}
		m.etcd = e
		defer e.Close()
		// Only the local member: a master shares the fate of its member (one
		// cut off from the quorum cannot lead), and its requests and watches
		// never hang on a dead peer's connection.
		endpoints = append(endpoints, "https://"+e.Clients[0].Addr().String())
	}
	pw, err := m.dir.RootPassword()
	if err != nil {
		return err
	}
	c, err := newClient(m.dir, endpoints, pw, len(m.cfg.EtcdEndpoints) == 0)
	if err != nil {
		return err
	}
	defer c.Close()
	m.client = c
	if err := retry(ctx, m.cfg.EtcdReadyTimeout, func() error { return m.bootstrap(ctx, c, pw) }); err != nil {
		return err
	}
	m.queue = jobs.NewQueue(c, m.reg, m.log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	m.tokens = newTokenCache(c, m.log)
	if err := m.tokens.load(ctx); err != nil {
		return err
	}
	wg.Go(func() { m.tokens.run(ctx) })

	srv, err := m.startAPI()
	if err != nil {
		return err
	}
	if srv != nil {
		defer func() {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	if srv != nil {
		wg.Go(func() { m.serveClusterIP(ctx, srv) })
	}
	m.clearStaleClusterIP(ctx)
	etcdErr := make(<-chan error)
	if m.etcd != nil {
		etcdErr = m.etcd.Err()
	}
	close(m.ready)
	m.log.Info("master_ready", "api", m.apiAddr, "etcd_endpoints", endpoints)
	wg.Go(func() { m.campaignLoop(ctx) })
	wg.Go(func() { m.runTemplateSync(ctx) }) // every master
	wg.Go(func() { m.cache.run(ctx, c, m.log) })
	select {
	case <-ctx.Done():
		return nil
	case err := <-etcdErr:
		return fmt.Errorf("embedded etcd: %w", err)
	case <-m.etcdStopped():
		return fmt.Errorf("embedded etcd member %s stopped (removed from the cluster?)", m.cfg.Name)
	}
}

// startAPI serves the HTTPS API with the master's certificate.
func (m *Master) startAPI() (*http.Server, error) {
	if m.cfg.APIListen == "-" {
		return nil, nil
	}
	addr := m.cfg.APIListen
	if addr == "" {
		addr = net.JoinHostPort(m.me.IP, fmt.Sprint(m.me.APIPort))
	}
	certs, err := newCertReloader(m.dir.CertFile(m.me.Name), m.dir.KeyFile(m.me.Name))
	if err != nil {
		return nil, fmt.Errorf("%w: master certificate: %w", ErrClusterDir, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("api listen %s: %w", addr, err)
	}
	m.apiAddr = ln.Addr().String()
	// Client certificates are optional: masters present theirs to fetch
	// template blobs from each other (peerblobs.go).
	cas, err := certPool(m.dir.CAFile())
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	dash := ui.New(m, m.verifier, m.log)
	srv := &http.Server{
		Handler: m.withPeerRoutes(api.NewServer(m, m.verifier, m.log, rapi.New(m, m.verifier, m.cfg.Version, m.log), m.metricsHandler(), dash)),
		TLSConfig: &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12,
			ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: cas},
		ReadHeaderTimeout: 10 * time.Second,
	}
	srv.RegisterOnShutdown(dash.Close)
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("api_server_failed", "error", err)
		}
	}()
	return srv, nil
}

// apiURL is the URL this master advertises.
func (m *Master) apiURL() string {
	if m.apiAddr != "" {
		return "https://" + m.apiAddr
	}
	return apiURL(m.me)
}

// Crash simulates kill -9 for in-process tests: the embedded etcd member
// stops without telling its peers (no leadership transfer) and the etcd client
// is closed, so the master neither resigns nor revokes its session lease. The
// caller then cancels Run's context.
func (m *Master) Crash() {
	if m.client != nil {
		_ = m.client.Close()
	}
	if m.etcd != nil {
		m.etcd.Server.HardStop()
		// A dead process's ports refuse connections.
		for _, l := range m.etcd.Clients {
			_ = l.Close()
		}
	}
}
