package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
)

// stubBackend answers the reads of a view from memory (the other methods
// are not called by buildView).
type stubBackend struct {
	Backend
	nodes []api.Node
	insts []api.Instance
	jobs  []api.Job
}

func (s *stubBackend) ClusterInfo(context.Context) (*api.ClusterInfo, error) {
	return &api.ClusterInfo{Name: "bench", Leader: "m1", Masters: []api.MasterInfo{{Name: "m1", Healthy: true}}}, nil
}
func (s *stubBackend) ListNodes(context.Context) ([]api.Node, error)         { return s.nodes, nil }
func (s *stubBackend) ListInstances(context.Context) ([]api.Instance, error) { return s.insts, nil }
func (s *stubBackend) ListJobs(context.Context, api.JobFilter) ([]api.Job, error) {
	return s.jobs, nil
}

// BenchmarkBuildView is the dashboard's own cost of one view (build and
// encode) at docs/scale.md's size: 1,000 nodes, 20,000 instances, 25 jobs
// with 100 log entries each; the reads themselves are the master's.
func BenchmarkBuildView(b *testing.B) {
	s := &stubBackend{}
	now := time.Now()
	for i := range 1000 {
		s.nodes = append(s.nodes, api.Node{Name: fmt.Sprintf("node%04d", i), Status: api.NodeOnline, VMCapable: true,
			HypervisorOK: true, Resources: &api.NodeResources{CPUs: 32, MemoryTotalMiB: 262144, MemoryFreeMiB: 100000}, LastSeen: &now})
	}
	for i := range 20000 {
		s.insts = append(s.insts, api.Instance{Name: fmt.Sprintf("inst%05d", i), PrimaryNode: s.nodes[i%1000].Name,
			DiskTemplate: "plain", Disks: []api.InstanceDisk{{SizeMiB: 10240}}, VCPUs: 2, MemoryMiB: 2048, Status: api.InstRunning})
	}
	for i := range 25 {
		j := api.Job{ID: uint64(1000 - i), State: api.JobSuccess, Ops: []api.OpCode{{Kind: api.OpDebugDelay}}}
		for k := range 100 {
			j.Log = append(j.Log, api.JobLogEntry{Serial: k + 1, Time: now, Level: "info", Message: "step done"})
		}
		s.jobs = append(s.jobs, j)
	}
	var size int
	for b.Loop() {
		data, err := json.Marshal(buildView(context.Background(), s))
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "bytes/view")
}
