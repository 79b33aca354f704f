package ui

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/drover-project/drover/api"
)

// Limits of one view.
const (
	// ViewJobs is how many of the newest jobs a view shows.
	ViewJobs = 25
	// ViewJobLog is how many of a job's last log entries a view carries.
	ViewJobLog = 40
	// ViewNodes and ViewInstances cap the rows of a view (those with a
	// problem first, then by name); Health counts them all.
	ViewNodes     = 500
	ViewInstances = 1000
	// maxDRBDReads caps the per-instance reads of DRBD state in one view.
	maxDRBDReads = 200
	// maxProblems caps the problems listed in Health.
	maxProblems = 50
)

// View is what the dashboard shows: one event of the stream.
type View struct {
	Cluster   *api.ClusterInfo `json:"cluster,omitempty"`
	Health    Health           `json:"health"`
	Nodes     []api.Node       `json:"nodes"`
	Instances []InstanceView   `json:"instances"`
	Jobs      []JobView        `json:"jobs"`
	// NodesTotal and InstancesTotal count every node and instance, shown
	// or not (see ViewNodes, ViewInstances).
	NodesTotal     int `json:"nodes_total"`
	InstancesTotal int `json:"instances_total"`
	// Errors are the parts of the view that could not be read.
	Errors []string `json:"errors,omitempty"`
}

// Health sums up the cluster: Level is ok, warning or error.
type Health struct {
	Level          string   `json:"level"`
	Problems       []string `json:"problems,omitempty"`
	Masters        int      `json:"masters"`
	MastersHealthy int      `json:"masters_healthy"`
	Nodes          int      `json:"nodes"`
	NodesOnline    int      `json:"nodes_online"`
	Instances      int      `json:"instances"`
	InstancesOK    int      `json:"instances_ok"`
	JobsPending    int      `json:"jobs_pending"`
}

// InstanceView is an instance with, for drbd, a summary of its mirrors.
type InstanceView struct {
	api.Instance
	// Redundancy (drbd only): ok, degraded, syncing N%, split-brain or
	// unknown (nothing reported).
	Redundancy string `json:"redundancy,omitempty"`
}

// JobView is a job without its opcodes' parameters and results, with the
// end of its log.
type JobView struct {
	ID              uint64            `json:"id"`
	State           api.JobState      `json:"state"`
	Submitter       string            `json:"submitter"`
	Ops             []string          `json:"ops"`
	OpsDone         int               `json:"ops_done"`
	StepsDone       int               `json:"steps_done"`
	Log             []api.JobLogEntry `json:"log"`
	LogTotal        int               `json:"log_total"`
	ReceivedAt      time.Time         `json:"received_at"`
	StartedAt       *time.Time        `json:"started_at,omitempty"`
	EndedAt         *time.Time        `json:"ended_at,omitempty"`
	Error           *api.Error        `json:"error,omitempty"`
	CancelRequested bool              `json:"cancel_requested,omitempty"`
}

// buildView reads the cluster through b.
func buildView(ctx context.Context, b Backend) *View {
	v := &View{Nodes: []api.Node{}, Instances: []InstanceView{}, Jobs: []JobView{}}
	var err error
	if v.Cluster, err = b.ClusterInfo(ctx); err != nil {
		v.Errors = append(v.Errors, fmt.Sprintf("cluster: %v", err))
	}
	if v.Nodes, err = b.ListNodes(ctx); err != nil {
		v.Errors = append(v.Errors, fmt.Sprintf("nodes: %v", err))
	}
	insts, err := b.ListInstances(ctx)
	if err != nil {
		v.Errors = append(v.Errors, fmt.Sprintf("instances: %v", err))
	}
	reads := 0
	v.Instances = make([]InstanceView, 0, len(insts))
	for _, in := range insts {
		iv := InstanceView{Instance: in}
		if in.DiskTemplate == "drbd" {
			iv.Redundancy = "unknown"
			if reads < maxDRBDReads {
				reads++
				if full, err := b.GetInstance(ctx, in.Name); err == nil {
					iv.Redundancy = redundancy(full.DRBD)
				}
			}
		}
		v.Instances = append(v.Instances, iv)
	}
	jobs, err := b.ListJobs(ctx, api.JobFilter{Limit: ViewJobs})
	if err != nil {
		v.Errors = append(v.Errors, fmt.Sprintf("jobs: %v", err))
	}
	for _, j := range jobs {
		v.Jobs = append(v.Jobs, jobView(j))
	}
	if v.Nodes == nil {
		v.Nodes = []api.Node{}
	}
	v.Health = health(v)
	v.NodesTotal, v.InstancesTotal = len(v.Nodes), len(v.Instances)
	v.Nodes = firstRows(v.Nodes, ViewNodes, func(n api.Node) (bool, string) { return n.Status != api.NodeOnline, n.Name })
	v.Instances = firstRows(v.Instances, ViewInstances, func(in InstanceView) (bool, string) {
		return instanceBad(in), in.Name
	})
	return v
}

// firstRows keeps the first max rows of rows: those with a problem first,
// each part in name order (rows are in name order already).
func firstRows[T any](rows []T, limit int, key func(T) (bool, string)) []T {
	if len(rows) <= limit {
		return rows
	}
	out := make([]T, 0, limit)
	for _, bad := range []bool{true, false} {
		for _, r := range rows {
			if b, _ := key(r); b == bad && len(out) < limit {
				out = append(out, r)
			}
		}
	}
	return out
}

// instanceBad: not running or admin-down as asked, or disks not redundant.
func instanceBad(in InstanceView) bool {
	return (in.Status != api.InstRunning && in.Status != api.InstAdminDown) ||
		in.Redundancy == "degraded" || in.Redundancy == "split-brain"
}

func jobView(j api.Job) JobView {
	jv := JobView{ID: j.ID, State: j.State, Submitter: j.Submitter, LogTotal: len(j.Log),
		ReceivedAt: j.ReceivedAt, StartedAt: j.StartedAt, EndedAt: j.EndedAt, Error: j.Error,
		CancelRequested: j.CancelRequested, Log: j.Log, Ops: []string{}}
	if len(jv.Log) > ViewJobLog {
		jv.Log = jv.Log[len(jv.Log)-ViewJobLog:]
	}
	if jv.Log == nil {
		jv.Log = []api.JobLogEntry{}
	}
	for _, op := range j.Ops {
		jv.Ops = append(jv.Ops, op.Kind)
	}
	for _, st := range j.OpStatus {
		jv.StepsDone += st.StepsDone
		if st.State == api.JobSuccess {
			jv.OpsDone++
		}
	}
	return jv
}

// redundancy sums up the DRBD disks of an instance.
func redundancy(disks []api.InstanceDRBDDisk) string {
	if len(disks) == 0 {
		return "unknown"
	}
	worst, sync := "ok", -1.0
	rank := map[string]int{"ok": 0, "syncing": 1, "unknown": 2, "degraded": 3, "split-brain": 4}
	for _, d := range disks {
		for _, n := range d.Nodes {
			s := "ok"
			switch {
			case n.SplitBrain:
				s = "split-brain"
			case n.Disk == "":
				s = "unknown"
			case n.Replication == "SyncSource" || n.Replication == "SyncTarget":
				s = "syncing"
				if sync < 0 || n.SyncPercent < sync {
					sync = n.SyncPercent
				}
			case n.Disk != "UpToDate" || (n.Connection != "" && n.Connection != "Connected"):
				s = "degraded"
			}
			if rank[s] > rank[worst] {
				worst = s
			}
		}
	}
	if worst == "syncing" {
		return fmt.Sprintf("syncing %.0f%%", sync)
	}
	return worst
}

// health derives the cluster's health from a view.
func health(v *View) Health {
	h := Health{Level: "ok", Nodes: len(v.Nodes), Instances: len(v.Instances)}
	problem := func(level, format string, args ...any) {
		h.Problems = append(h.Problems, fmt.Sprintf(format, args...))
		if level == "error" || h.Level == "ok" {
			h.Level = level
		}
	}
	if c := v.Cluster; c != nil {
		h.Masters, h.JobsPending = len(c.Masters), c.JobsPending
		for _, m := range c.Masters {
			if m.Healthy {
				h.MastersHealthy++
			} else {
				problem("warning", "master %s: etcd member does not answer", m.Name)
			}
		}
		if c.Leader == "" {
			problem("error", "no master leads")
		}
	}
	for _, n := range v.Nodes {
		switch {
		case n.Status == api.NodeOnline:
			h.NodesOnline++
		case n.Offline:
			problem("warning", "node %s is offline", n.Name)
		default:
			problem("error", "node %s is %s", n.Name, n.Status)
		}
		if n.Resources != nil && !n.HypervisorOK {
			problem("error", "node %s: hypervisor failed: %s", n.Name, n.HypervisorError)
		}
	}
	for _, in := range v.Instances {
		if in.Status != api.InstRunning && in.Status != api.InstAdminDown {
			problem("error", "instance %s is %s", in.Name, in.Status)
		}
		if r := in.Redundancy; r == "degraded" || r == "split-brain" {
			problem("error", "instance %s: disks %s", in.Name, r)
		}
		if !instanceBad(in) {
			h.InstancesOK++
		}
	}
	for _, e := range v.Errors {
		problem("error", "%s", e)
	}
	slices.Sort(h.Problems)
	if len(h.Problems) > maxProblems {
		h.Problems = append(h.Problems[:maxProblems], fmt.Sprintf("... and %d more", len(h.Problems)-maxProblems))
	}
	return h
}
