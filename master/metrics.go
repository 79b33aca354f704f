package master

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/drover-project/drover/api"
)

// MetricsPath is where every master serves Prometheus metrics (no
// authentication: counts and states only, no names or secrets).
const MetricsPath = "/metrics"

// scrapeTimeout bounds the etcd reads of one scrape.
const scrapeTimeout = 5 * time.Second

// jobDurationBuckets are the bounds (seconds) of drover_job_duration_seconds.
var jobDurationBuckets = []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600}

// metrics reads the cluster at each scrape (level-triggered: nothing is
// counted in the request paths, so every master reports the same cluster
// figures, and its own leadership and etcd member).
type metrics struct {
	m   *Master
	reg *prometheus.Registry

	nodes, instances, jobs, jobDuration, leader, epoch, etcdUp, dbSize, dbInUse, info, scrapeErr *prometheus.Desc
}

func newMetrics(m *Master) *metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	mt := &metrics{
		m:           m,
		reg:         prometheus.NewRegistry(),
		nodes:       d("drover_nodes", "Nodes by status (online, unreachable, suspect, fencing, fenced, offline).", "status"),
		instances:   d("drover_instances", "Instances by Ganeti status (running, ADMIN_down, ERROR_down...).", "status"),
		jobs:        d("drover_jobs", "Jobs not yet archived, by state.", "state"),
		jobDuration: d("drover_job_duration_seconds", "Run time (start to end) of the finished jobs not yet archived; archiving makes the counts go down.", "kind"),
		leader:      d("drover_master_leader", "1 while this master leads the cluster, else 0."),
		epoch:       d("drover_master_epoch", "The current leader's epoch (fencing token; grows at every change of leader)."),
		etcdUp:      d("drover_etcd_healthy", "1 when this master's etcd endpoint answers a status request, else 0."),
		dbSize:      d("drover_etcd_db_size_bytes", "Size of the etcd database file of this master's member."),
		dbInUse:     d("drover_etcd_db_size_in_use_bytes", "Bytes of the etcd database in use (the rest is reclaimed by defragmentation)."),
		info:        d("drover_master_info", "Constant 1, labelled with this master's name, drover version and cluster.", "master", "version", "cluster"),
		scrapeErr:   d("drover_scrape_errors", "Parts of the last scrape that could not be read (1 each): nodes, instances, jobs, election, etcd.", "part"),
	}
	mt.reg.MustRegister(mt, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return mt
}

// Describe implements prometheus.Collector.
func (mt *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mt.nodes, mt.instances, mt.jobs, mt.jobDuration, mt.leader, mt.epoch,
		mt.etcdUp, mt.dbSize, mt.dbInUse, mt.info, mt.scrapeErr} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (mt *metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	failed := func(part string, err error) bool {
		v := 0.0
		if err != nil {
			v = 1
			mt.m.log.Warn("metrics_scrape_failed", "part", part, "err", err)
		}
		gauge(mt.scrapeErr, v, part)
		return err != nil
	}
	m := mt.m
	gauge(mt.info, 1, m.cfg.Name, m.cfg.Version, m.dir.Cluster.Name)
	leading, _ := m.Leading()
	gauge(mt.leader, boolValue(leading))
	if _, epoch, err := m.currentLeader(ctx); !failed("election", err) {
		gauge(mt.epoch, float64(epoch))
	}
	mt.collectEtcd(ctx, gauge, failed)

	if nodes, err := m.ListNodes(ctx); !failed("nodes", err) {
		count := map[string]int{api.NodeOnline: 0, api.NodeUnreachable: 0, api.NodeSuspect: 0, api.NodeFencing: 0,
			api.NodeFenced: 0, api.NodeOffline: 0}
		for _, n := range nodes {
			count[n.Status]++
		}
		for s, n := range count {
			gauge(mt.nodes, float64(n), s)
		}
	}
	if insts, err := m.ListInstances(ctx); !failed("instances", err) {
		count := map[string]int{api.InstRunning: 0, api.InstAdminDown: 0, api.InstErrorDown: 0, api.InstErrorUp: 0,
			api.InstErrorNodeDown: 0, api.InstErrorNodeOffline: 0}
		for _, in := range insts {
			count[in.Status]++
		}
		for s, n := range count {
			gauge(mt.instances, float64(n), s)
		}
	}
	if jobs, err := m.queue.List(ctx, api.JobFilter{}); !failed("jobs", err) {
		mt.collectJobs(ch, gauge, jobs)
	}
}

func (mt *metrics) collectEtcd(ctx context.Context, gauge func(*prometheus.Desc, float64, ...string), failed func(string, error) bool) {
	eps := mt.m.client.Endpoints()
	if len(eps) == 0 {
		gauge(mt.etcdUp, 0)
		return
	}
	st, err := mt.m.client.Status(ctx, eps[0])
	gauge(mt.etcdUp, boolValue(err == nil))
	if failed("etcd", err) {
		return
	}
	gauge(mt.dbSize, float64(st.DbSize))
	gauge(mt.dbInUse, float64(st.DbSizeInUse))
}

func (mt *metrics) collectJobs(ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string), jobs []api.Job) {
	states := map[api.JobState]int{api.JobQueued: 0, api.JobWaiting: 0, api.JobRunning: 0, api.JobSuccess: 0,
		api.JobError: 0, api.JobCanceling: 0, api.JobCanceled: 0}
	type hist struct {
		count   uint64
		sum     float64
		buckets map[float64]uint64
	}
	byKind := map[string]*hist{}
	for _, j := range jobs {
		states[j.State]++
		if !j.State.Finished() || j.StartedAt == nil || j.EndedAt == nil || len(j.Ops) == 0 {
			continue
		}
		kind := j.Ops[0].Kind
		h := byKind[kind]
		if h == nil {
			h = &hist{buckets: map[float64]uint64{}}
			byKind[kind] = h
		}
		secs := j.EndedAt.Sub(*j.StartedAt).Seconds()
		h.count++
		h.sum += secs
		for _, b := range jobDurationBuckets {
			if secs <= b {
				h.buckets[b]++
			}
		}
	}
	for s, n := range states {
		gauge(mt.jobs, float64(n), string(s))
	}
	for kind, h := range byKind {
		ch <- prometheus.MustNewConstHistogram(mt.jobDuration, h.count, h.sum, h.buckets, kind)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricsMount serves /metrics on the API server (an api.Mount).
type metricsMount struct{ h http.Handler }

func (mm metricsMount) Register(e *gin.Engine) { e.GET(MetricsPath, gin.WrapH(mm.h)) }

func (mm metricsMount) NoRoute(*gin.Context) bool { return false }

// metricsHandler is the master's /metrics handler.
func (m *Master) metricsHandler() api.Mount {
	mt := newMetrics(m)
	mt.reg.MustRegister(m.ha.collectors()...)
	return metricsMount{h: promhttp.HandlerFor(mt.reg, promhttp.HandlerOpts{ErrorLog: nil, Timeout: 2 * scrapeTimeout})}
}
