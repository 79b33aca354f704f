package master

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-project/drover/api"
)

// haMetrics count what the liveness and failover controllers do (events,
// unlike the level-triggered cluster figures of metrics.go): every master
// has them, only the leader's move.
type haMetrics struct {
	fences      *prometheus.CounterVec
	fenceTime   *prometheus.HistogramVec
	failovers   *prometheus.CounterVec
	transitions *prometheus.CounterVec
}

func newHAMetrics() *haMetrics {
	return &haMetrics{
		fences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drover_fence_actions_total",
			Help: "STONITH actions through nodes' fence devices (with their retries), by action (off, on) and result (ok, failed).",
		}, []string{"action", "result"}),
		fenceTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "drover_fence_action_duration_seconds",
			Help:    "Duration of STONITH actions (the action and the status that confirms it, retries included), by action and result.",
			Buckets: []float64{0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300},
		}, []string{"action", "result"}),
		failovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drover_failovers_total",
			Help: "Instances whose primary node was fenced, by outcome (started: running on the secondary; stopped: it was stopped and stays so; no_fit: the survivors lack capacity; unavailable: no failover for its disk template; failed).",
		}, []string{"outcome"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drover_node_state_transitions_total",
			Help: "Node liveness transitions made by the leader, by the state entered (online, unreachable, suspect, fencing, fenced, offline); unreachable counts lease expiries.",
		}, []string{"state"}),
	}
}

func (h *haMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{h.fences, h.fenceTime, h.failovers, h.transitions}
}

// observeFence counts a STONITH action (status reads are not counted).
func (m *Master) observeFence(res api.FenceResult) {
	if m.ha == nil {
		return
	}
	result := "ok"
	if !res.OK {
		result = "failed"
	}
	m.ha.fences.WithLabelValues(res.Action, result).Inc()
	m.ha.fenceTime.WithLabelValues(res.Action, result).Observe(res.Duration.Seconds())
}

// observeFailover counts one instance's failover outcome.
func (m *Master) observeFailover(outcome string) {
	if m.ha != nil {
		m.ha.failovers.WithLabelValues(outcome).Inc()
	}
}

// observeTransition counts a node entering state.
func (m *Master) observeTransition(state string) {
	if m.ha != nil {
		m.ha.transitions.WithLabelValues(state).Inc()
	}
}
