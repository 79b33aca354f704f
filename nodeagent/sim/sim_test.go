package sim_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/nodeagent/sim"
)

// simNodes is the number of simulated nodes of the test (the 1,000-node run
// is scripts/bench-scale.sh).
const simNodes = 100

// watchLog records the key ranges each node's agent watches.
type watchLog struct {
	mu      sync.Mutex
	watches map[string][]*pb.WatchCreateRequest
}

func (w *watchLog) dialOptions(node string) []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainStreamInterceptor(
		func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil || method != "/etcdserverpb.Watch/Watch" {
				return cs, err
			}
			return &watchStream{ClientStream: cs, log: w, node: node}, nil
		})}
}

type watchStream struct {
	grpc.ClientStream
	log  *watchLog
	node string
}

func (s *watchStream) SendMsg(m any) error {
	if r, ok := m.(*pb.WatchRequest); ok {
		if cr := r.GetCreateRequest(); cr != nil {
			s.log.mu.Lock()
			s.log.watches[s.node] = append(s.log.watches[s.node], cr)
			s.log.mu.Unlock()
		}
	}
	return s.ClientStream.SendMsg(m)
}

// TestSimNodes runs simNodes simulated nodes against a real master: every
// node comes online with the fake hypervisor's resources, runs instances
// placed on it, and its agent watches only its own keys.
func TestSimNodes(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{API: true, NodeLeaseTTL: 30})
	m := c.Masters[c.Leader()].M
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var ops []api.OpCode
	for i := 1; i <= simNodes; i++ {
		ops = append(ops, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: fmt.Sprintf("sim%d", i)}))
		if len(ops) == 100 || i == simNodes {
			if j := mastertest.WaitJob(t, m, mastertest.Submit(t, m, 0, ops...), 2*time.Minute); j.State != api.JobSuccess {
				t.Fatalf("node add: %+v", j.Error)
			}
			ops = nil
		}
	}
	cfg := sim.Config{StorageRoot: t.TempDir(), CPUs: 8, MemoryMiB: 16384, StartRate: 200}
	for i := 1; i <= simNodes; i++ {
		cred, err := m.NodeCredentials(ctx, fmt.Sprintf("sim%d", i))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Credentials = append(cfg.Credentials, *cred)
	}
	wl := &watchLog{watches: map[string][]*pb.WatchCreateRequest{}}
	cfg.DialOptions = wl.dialOptions
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(sctx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("sim.Run: %v", err)
		}
	}()
	mastertest.WaitFor(t, 5*time.Minute, "all simulated nodes online", func() bool {
		ns, err := m.ListNodes(ctx)
		if err != nil {
			return false
		}
		online := 0
		for _, n := range ns {
			if n.Status == api.NodeOnline && n.Hypervisor == "fake" && n.Resources.MemoryTotalMiB == 16384 {
				online++
			}
		}
		return online == simNodes
	})
	addInstances(t, ctx, m, 3)
	wl.mu.Lock()
	defer wl.mu.Unlock()
	watched := 0
	for i := 1; i <= simNodes; i++ {
		node := fmt.Sprintf("sim%d", i)
		for _, cr := range wl.watches[node] {
			watched++
			own := []string{keys.NodeCmdPrefix(node), keys.NodeStatePrefix(node)}
			if !within(cr, own) {
				t.Errorf("agent of %s watches %q..%q, outside its own keys %v", node, cr.Key, cr.RangeEnd, own)
			}
		}
	}
	if watched < simNodes {
		t.Errorf("%d watches recorded for %d agents: each watches at least its commands", watched, simNodes)
	}
}

// within reports whether the watched range [Key, RangeEnd) lies under one of
// the prefixes.
func within(cr *pb.WatchCreateRequest, prefixes []string) bool {
	for _, p := range prefixes {
		end := []byte(p)
		end[len(end)-1]++
		if !strings.HasPrefix(string(cr.Key), p) {
			continue
		}
		if len(cr.RangeEnd) == 0 || bytes.Compare(cr.RangeEnd, end) <= 0 && string(cr.RangeEnd) != "\x00" {
			return true
		}
	}
	return false
}

// addInstances creates n running instances on simulated nodes (the real
// command path: reserve, create, start through the agents).
func addInstances(t *testing.T, ctx context.Context, m *master.Master, n int) {
	t.Helper()
	if _, err := m.ImportTemplate(ctx, mastertest.Admin, "tiny", bytes.NewReader(mastertest.TinyRootfs(t))); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("inst%d", i)
		add := api.InstanceAdd{Name: name, DiskTemplate: "diskless", OS: "tiny", Node: fmt.Sprintf("sim%d", i*7), VCPUs: 1, MemoryMiB: 256}
		if j := mastertest.WaitJob(t, m, mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceAdd, add)), time.Minute); j.State != api.JobSuccess {
			t.Fatalf("add %s: %+v", name, j.Error)
		}
		in, err := m.GetInstance(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if in.Status != api.InstRunning {
			mastertest.WaitFor(t, 30*time.Second, name+" running", func() bool {
				in, err := m.GetInstance(ctx, name)
				return err == nil && in.Status == api.InstRunning
			})
		}
	}
}
