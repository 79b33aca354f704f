package master

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence"
)

// haMetrics count what the liveness and failover controllers do (events,
// unlike the level-triggered cluster figures of metrics.go): every master
// has them, only the leader's move.
type haMetrics struct {
	fences      *prometheus.CounterVec
	fenceTime   *prometheus.HistogramVec
	failovers   *prometheus.CounterVec
	transitions *prometheus.CounterVec
	fastPath    *prometheus.CounterVec
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
		fastPath: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "drover_fence_fastpath_status_total",
			Help: "Status reads of late nodes' fence devices (the fast path for dead nodes), by the power state they reported: off is a confirmation (the node is fenced and failed over without waiting for its lease), on and unknown (no answer) change nothing.",
		}, []string{"power"}),
	}
}

func (h *haMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{h.fences, h.fenceTime, h.failovers, h.transitions, h.fastPath}
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

// observeFastPath counts a status read of a late node's fence device by
// the power state it reported.
func (m *Master) observeFastPath(p fence.Power) {
	if m.ha != nil {
		m.ha.fastPath.WithLabelValues(string(p)).Inc()
	}
}
