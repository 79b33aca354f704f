package nodeagent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/drover-project/drover/nodeagent/hv"
)

// Metrics are the agent's Prometheus metrics: lease renewals and hypervisor
// calls. A nil *Metrics records nothing.
type Metrics struct {
	reg      *prometheus.Registry
	lease    prometheus.Histogram
	leaseErr prometheus.Counter
	hvCalls  *prometheus.HistogramVec
	fences   *prometheus.CounterVec
}

// NewMetrics makes the metrics of the agent of node.
func NewMetrics(node string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		lease: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "drover_agent_lease_renewal_seconds",
			Help:    "Time for one keep-alive of the node's etcd lease to be answered (or to fail).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		}),
		leaseErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "drover_agent_lease_renewal_failures_total",
			Help: "Keep-alives of the node's lease that failed.",
		}),
		hvCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "drover_agent_hypervisor_call_seconds",
			Help:    "Duration of the agent's calls to its hypervisor driver, by call and result (ok or error).",
			Buckets: []float64{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120},
		}, []string{"call", "result"}),
	}
	m.fences = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "drover_agent_self_fences_total",
		Help: "Self-fences after a lost lease, by result (done: no guest runs, verified; failed: the watchdog is the last resort).",
	}, []string{"result"})
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "drover_agent_info", Help: "Constant 1, labelled with the agent's node.",
		ConstLabels: prometheus.Labels{"node": node},
	})
	info.Set(1)
	m.reg.MustRegister(m.lease, m.leaseErr, m.hvCalls, m.fences, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
}

// observeLease records one keep-alive.
func (m *Metrics) observeLease(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.lease.Observe(d.Seconds())
	if err != nil {
		m.leaseErr.Inc()
	}
}

// observeSelfFence counts a self-fence after a lost lease.
func (m *Metrics) observeSelfFence(err error) {
	if m == nil {
		return
	}
	result := "done"
	if err != nil {
		result = "failed"
	}
	m.fences.WithLabelValues(result).Inc()
}

func (m *Metrics) observeCall(call string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.hvCalls.WithLabelValues(call, result).Observe(time.Since(start).Seconds())
}

// Serve serves /metrics over plain HTTP on addr until ctx ends.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics_server_failed", "err", err)
		}
	}()
	return nil
}

// InstrumentDriver times every call to d. The result also implements
// hv.HealthReporter and hv.EventSource (both drivers do; for one that does
// not, Health is nil and Events hv.ErrUnsupported), and hv.Migrator exactly
// when d does.
func (m *Metrics) InstrumentDriver(d hv.Driver) hv.Driver {
	if m == nil {
		return d
	}
	t := &timedDriver{d: d, m: m}
	if mg, ok := d.(hv.Migrator); ok {
		return &timedMigrator{timedDriver: t, mg: mg}
	}
	return t
}

// timedDriver is an hv.Driver that records each call's duration.
type timedDriver struct {
	d hv.Driver
	m *Metrics
}

func (t *timedDriver) Name() hv.Kind { return t.d.Name() }

// timed runs fn and records its duration under call.
func timed[T any](m *Metrics, call string, fn func() (T, error)) (T, error) {
	start := time.Now()
	v, err := fn()
	m.observeCall(call, start, err)
	return v, err
}

// timedErr is timed for calls without a result.
func timedErr(m *Metrics, call string, fn func() error) error {
	_, err := timed(m, call, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

func (t *timedDriver) Define(ctx context.Context, spec hv.DomainSpec) error {
	return timedErr(t.m, "define", func() error { return t.d.Define(ctx, spec) })
}

func (t *timedDriver) Undefine(ctx context.Context, name string) error {
	return timedErr(t.m, "undefine", func() error { return t.d.Undefine(ctx, name) })
}

func (t *timedDriver) Start(ctx context.Context, name string) error {
	return timedErr(t.m, "start", func() error { return t.d.Start(ctx, name) })
}

func (t *timedDriver) Shutdown(ctx context.Context, name string, timeout time.Duration) error {
	return timedErr(t.m, "shutdown", func() error { return t.d.Shutdown(ctx, name, timeout) })
}

func (t *timedDriver) Destroy(ctx context.Context, name string) error {
	return timedErr(t.m, "destroy", func() error { return t.d.Destroy(ctx, name) })
}

func (t *timedDriver) Reboot(ctx context.Context, name string) error {
	return timedErr(t.m, "reboot", func() error { return t.d.Reboot(ctx, name) })
}

func (t *timedDriver) State(ctx context.Context, name string) (hv.DomainState, error) {
	return timed(t.m, "state", func() (hv.DomainState, error) { return t.d.State(ctx, name) })
}

func (t *timedDriver) List(ctx context.Context) ([]hv.DomainInfo, error) {
	return timed(t.m, "list", func() ([]hv.DomainInfo, error) { return t.d.List(ctx) })
}

func (t *timedDriver) Resources(ctx context.Context) (hv.NodeResources, error) {
	return timed(t.m, "resources", func() (hv.NodeResources, error) { return t.d.Resources(ctx) })
}

func (t *timedDriver) Console(ctx context.Context, name string) (io.ReadCloser, error) {
	return timed(t.m, "console", func() (io.ReadCloser, error) { return t.d.Console(ctx, name) })
}

func (t *timedDriver) Close() error { return t.d.Close() }

// Unwrap implements hv.Unwrapper (optional interfaces not timed here).
func (t *timedDriver) Unwrap() hv.Driver { return t.d }

// Health implements hv.HealthReporter (not a call to the hypervisor).
func (t *timedDriver) Health() error {
	if hr, ok := t.d.(hv.HealthReporter); ok {
		return hr.Health()
	}
	return nil
}

// Events implements hv.EventSource.
func (t *timedDriver) Events(ctx context.Context) (<-chan hv.Event, error) {
	if es, ok := t.d.(hv.EventSource); ok {
		return es.Events(ctx)
	}
	return nil, hv.ErrUnsupported
}

// timedMigrator adds hv.Migrator for drivers that migrate.
type timedMigrator struct {
	*timedDriver
	mg hv.Migrator
}

func (t *timedMigrator) Migrate(ctx context.Context, name, destURI string, opts hv.MigrateOptions) error {
	return timedErr(t.m, "migrate", func() error { return t.mg.Migrate(ctx, name, destURI, opts) })
}
