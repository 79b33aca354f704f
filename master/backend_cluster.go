package master

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Master implements api.Backend.
var _ api.Backend = (*Master)(nil)

// MasterName implements api.Backend.
func (m *Master) MasterName() string { return m.cfg.Name }

// CheckToken implements api.Backend.
func (m *Master) CheckToken(ctx context.Context, p api.Principal) error {
	return m.tokens.check(ctx, p)
}

// unavailable wraps an etcd failure as a retryable API error.
func unavailable(what string, err error) error {
	return api.Errorf(api.CodeUnavailable, "%s: %w", what, err)
}

// currentLeader reads the election: the leader's name and epoch ("" if none).
func (m *Master) currentLeader(ctx context.Context) (string, int64, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.ElectionPrefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", 0, unavailable("read election", err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, nil
	}
	return string(resp.Kvs[0].Value), resp.Kvs[0].CreateRevision, nil
}

// mastersHealth returns every configured master with its registration and the
// health of its etcd member.
func (m *Master) mastersHealth(ctx context.Context, leader string) ([]api.MasterInfo, map[string]bool, error) {
	tctx, cancel := store.WithTimeout(ctx)
	resp, err := m.client.Get(tctx, keys.MastersPrefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return nil, nil, unavailable("read masters", err)
	}
	registered := map[string]keys.MasterRecord{}
	for _, kv := range resp.Kvs {
		var r keys.MasterRecord
		if json.Unmarshal(kv.Value, &r) == nil {
			registered[r.Name] = r
		}
	}
	urls := m.dir.ClientURLs()
	out := make([]api.MasterInfo, len(m.dir.Cluster.Masters))
	done := make(chan int, len(out))
	for i, spec := range m.dir.Cluster.Masters {
		out[i] = api.MasterInfo{Name: spec.Name, APIURL: apiURL(spec), Leader: spec.Name == leader}
		if r, ok := registered[spec.Name]; ok {
			out[i].APIURL = r.APIURL
		}
		go func() {
			defer func() { done <- i }()
			if len(m.cfg.EtcdEndpoints) > 0 {
				// External etcd: a master is healthy when it is registered.
				out[i].Healthy = registered[spec.Name].Name != ""
				return
			}
			if registered[spec.Name].Name == "" {
				return // its session lease expired: down
			}
			// A live member answers in milliseconds; a second leaves room
			// for a loaded host without reporting it unhealthy.
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			defer scancel()
			// A dead member refuses the connection at once, while an etcd
			// call would wait for the whole timeout.
			var d net.Dialer
			conn, err := d.DialContext(sctx, "tcp", net.JoinHostPort(spec.IP, fmt.Sprint(spec.ClientPort)))
			if err != nil {
				return
			}
			_ = conn.Close()
			_, err = m.client.Status(sctx, urls[i])
			out[i].Healthy = err == nil
		}()
	}
	for range out {
		<-done
	}
	reg := map[string]bool{}
	for n := range registered {
		reg[n] = true
	}
	return out, reg, nil
}

// ClusterInfo implements api.Backend.
func (m *Master) ClusterInfo(ctx context.Context) (*api.ClusterInfo, error) {
	var rec keys.ClusterRecord
	if _, err := store.GetJSON(ctx, m.client, keys.ClusterKey, &rec); err != nil {
		return nil, unavailable("read cluster", err)
	}
	leader, epoch, err := m.currentLeader(ctx)
	if err != nil {
		return nil, err
	}
	masters, _, err := m.mastersHealth(ctx, leader)
	if err != nil {
		return nil, err
	}
	tctx, cancel := store.WithTimeout(ctx)
	nodes, err := m.client.Get(tctx, keys.NodesPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return nil, unavailable("count nodes", err)
	}
	pending, err := m.queue.List(ctx, api.JobFilter{States: []api.JobState{api.JobQueued, api.JobWaiting, api.JobRunning, api.JobCanceling}})
	if err != nil {
		return nil, unavailable("list jobs", err)
	}
	return &api.ClusterInfo{
		Name: rec.Name, UUID: rec.UUID, CreatedAt: rec.CreatedAt,
		Leader: leader, Epoch: epoch, Masters: masters,
		AnsweredBy: m.cfg.Name, Version: m.cfg.Version,
		MACPrefix: rec.MACPrefix, NodeLeaseTTL: rec.NodeLeaseTTL,
		ClusterIP: rec.ClusterIP, ClusterIPDev: rec.ClusterIPDev,
		PingTargets: rec.PingTargets, UplinkMigrate: !rec.UplinkMigrateOff,
		NodeCount: int(nodes.Count), JobsPending: len(pending),
	}, nil
}

// ClusterVerify implements api.Backend.
func (m *Master) ClusterVerify(ctx context.Context) (*api.VerifyReport, error) {
	rep := &api.VerifyReport{Findings: []api.VerifyFinding{}}
	add := func(sev, code, obj, format string, args ...any) {
		rep.Findings = append(rep.Findings, api.VerifyFinding{Severity: sev, Code: code, Object: obj, Message: fmt.Sprintf(format, args...)})
	}
	leader, _, err := m.currentLeader(ctx)
	if err != nil {
		return nil, err
	}
	if leader == "" {
		add("error", "ENOLEADER", "cluster", "no master leads: jobs do not run")
	}
	masters, _, err := m.mastersHealth(ctx, leader)
	if err != nil {
		return nil, err
	}
	for _, mi := range masters {
		if !mi.Healthy {
			add("error", "EMASTERDOWN", "master/"+mi.Name, "master %s does not answer (etcd member down or master not registered)", mi.Name)
		}
	}
	nodes, err := m.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		obj := "node/" + n.Name
		switch {
		case n.Status == api.NodeOffline:
			add("warning", "ENODEOFFLINE", obj, "node %s is marked offline", n.Name)
		case n.Status == api.NodeUnreachable:
			add("error", "ENODEUNREACHABLE", obj, "node %s is unreachable: its agent holds no lease", n.Name)
		case n.Status == api.NodeSuspect || n.Status == api.NodeFencing || n.Status == api.NodeFenced:
			add("error", "ENODEUNREACHABLE", obj, "node %s is unreachable (%s): its agent holds no lease", n.Name, n.Status)
		case !n.HypervisorOK:
			add("error", "ENODEHV", obj, "node %s reports its hypervisor %q as failed", n.Name, n.Hypervisor)
		}
		if n.Drained {
			add("warning", "ENODEDRAINED", obj, "node %s is drained", n.Name)
		}
		if n.Status == api.NodeOnline && n.AgentVersion != "" && n.AgentVersion != m.cfg.Version {
			add("warning", "ENODEVERSION", obj, "node %s runs agent version %s, master %s runs %s", n.Name, n.AgentVersion, m.cfg.Name, m.cfg.Version)
		}
	}
	if err := m.verifyState(ctx, add); err != nil {
		return nil, err
	}
	if err := m.verifyDRBD(ctx, add); err != nil {
		return nil, err
	}
	rep.OK = true
	for _, f := range rep.Findings {
		if f.Severity == "error" {
			rep.OK = false
		}
	}
	return rep, nil
}
