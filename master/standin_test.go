package master_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// standIn is a fake node for the submit-time validation test only: it
// publishes whatever node status the test writes (a 2-CPU KVM node with a
// bridge, which the fake hypervisor cannot present) and answers node
// commands "done" without running anything. Every other master instance
// test drives the real agent (agenttest).
type standIn struct {
	c    *clientv3.Client
	node string

	mu   sync.Mutex
	fail map[string]*api.Error // by command kind
	got  []keys.NodeCommand
}

func (s *standIn) kinds() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.got {
		out = append(out, c.Kind)
	}
	return out
}

func (s *standIn) putJSON(ctx context.Context, t *testing.T, key string, v any) {
	b, _ := json.Marshal(v)
	if _, err := s.c.Put(ctx, key, string(b)); err != nil && ctx.Err() == nil {
		t.Errorf("stand-in put %s: %v", key, err)
	}
}

// setDomain publishes the domain state of inst ("" deletes it).
func (s *standIn) setDomain(ctx context.Context, t *testing.T, inst, state string) {
	if state == "" {
		_, _ = s.c.Delete(ctx, keys.NodeDomainKey(s.node, inst))
		return
	}
	s.putJSON(ctx, t, keys.NodeDomainKey(s.node, inst), keys.DomainStatus{Instance: inst, State: state, ObservedAt: time.Now().UTC()})
}

func (s *standIn) publishStatus(ctx context.Context, t *testing.T) {
	s.putJSON(ctx, t, keys.NodeStatusKey(s.node), keys.NodeStatus{Hypervisor: "fake", HypervisorOK: true,
		Resources:   api.NodeResources{MemoryTotalMiB: 4096, MemoryFreeMiB: 4096, DiskTotalMiB: 10240, DiskFreeMiB: 10240, CPUs: 4},
		PublishedAt: time.Now().UTC(), StartedAt: time.Now().UTC()})
}

func (s *standIn) run(ctx context.Context, t *testing.T) {
	wch := s.c.Watch(ctx, keys.NodeCmdPrefix(s.node), clientv3.WithPrefix())
	for wr := range wch {
		for _, ev := range wr.Events {
			if ev.Type != clientv3.EventTypePut {
				continue
			}
			var c keys.NodeCommand
			if err := json.Unmarshal(ev.Kv.Value, &c); err != nil {
				t.Errorf("stand-in: bad command %s: %v", ev.Kv.Value, err)
				continue
			}
			s.mu.Lock()
			s.got = append(s.got, c)
			e := s.fail[c.Kind]
			s.mu.Unlock()
			res := keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Done: true, Error: e, At: time.Now().UTC()}
			if e == nil {
				switch c.Kind {
				case keys.CmdInstanceCreate:
					s.setDomain(ctx, t, c.Instance.Name, keys.DomainStopped)
				case keys.CmdInstanceStart:
					s.setDomain(ctx, t, c.Instance.Name, keys.DomainRunning)
				case keys.CmdInstanceShutdown:
					s.setDomain(ctx, t, c.Instance.Name, keys.DomainStopped)
				case keys.CmdInstanceRemove:
					s.setDomain(ctx, t, c.Instance.Name, "")
				}
			}
			s.putJSON(ctx, t, keys.NodeResultKey(s.node, c.ID), res)
		}
	}
}

// startStandInEnv is startInstEnv with the stand-in as node1.
func startStandInEnv(t *testing.T) *instEnv {
	t.Helper()
	c := mastertest.Start(t, mastertest.Options{Masters: 1})
	m := c.Masters[0].M
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, n := range []string{"node1", "node2"} {
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: n}))
		if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
			t.Fatalf("node add %s: %+v", n, j.Error)
		}
	}
	si := &standIn{c: m.Client(), node: "node1", fail: map[string]*api.Error{}}
	si.publishStatus(ctx, t)
	go si.run(ctx, t)
	if _, err := m.ImportTemplate(ctx, mastertest.Admin, "tiny", bytes.NewReader(tinyRootfs(t))); err != nil {
		t.Fatalf("import template: %v", err)
	}
	return &instEnv{c: c, m: m, si: si}
}
