package master_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// drbdPair is a fake of two workload nodes with one DRBD resource, for the
// master's migration sequence only (the real DRBD runs in the node guests,
// cmd/drover's VM tests). It answers the node commands as the agents would
// and enforces what DRBD enforces: a second primary only while both peers
// allow two primaries, no demotion of a device a writer has open; and it
// checks the workload's rule: never two writers, a writer only on a
// primary.
type drbdPair struct {
	t *testing.T
	c *clientv3.Client

	mu       sync.Mutex
	role     map[string]string // node -> Primary/Secondary
	allow    map[string]bool
	writer   string          // node whose workload runs ("" none)
	paused   map[string]bool // nodes holding a paused copy (no writer)
	cmds     []string
	failKind string // a command kind answered with an error
	// cut is how an instance.migrate answered with an error ends, as a
	// libvirtd killed in the middle leaves it: "" nothing moved; "lost"
	// the move went through (the target's copy paused, the source's gone);
	// "resumed" the target's copy paused and the source's resumed by the
	// restarted libvirtd; "paused" both copies paused.
	cut string
	bad []string
}

func (p *drbdPair) violation(format string, args ...any) {
	p.bad = append(p.bad, fmt.Sprintf(format, args...))
}

func (p *drbdPair) primaries() int {
	n := 0
	for _, r := range p.role {
		if r == "Primary" {
			n++
		}
	}
	return n
}

func (p *drbdPair) put(ctx context.Context, key string, v any) {
	b, _ := json.Marshal(v)
	if _, err := p.c.Put(ctx, key, string(b)); err != nil && ctx.Err() == nil {
		p.t.Errorf("drbd pair: put %s: %v", key, err)
	}
}

func (p *drbdPair) publishDomain(ctx context.Context, node, inst, uuid, state string) {
	if state == "" {
		_, _ = p.c.Delete(ctx, keys.NodeDomainKey(node, inst))
		return
	}
	p.put(ctx, keys.NodeDomainKey(node, inst), keys.DomainStatus{Instance: inst, State: state, UUID: uuid, ObservedAt: time.Now().UTC()})
}

// answer runs command c of node and returns its output or error.
func (p *drbdPair) answer(ctx context.Context, node string, c keys.NodeCommand) (any, *api.Error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cmds = append(p.cmds, c.Kind+"@"+node)
	if c.Kind == p.failKind && p.cut == "" {
		return nil, api.Errorf(api.CodeInternal, "injected failure of %s", c.Kind)
	}
	peer := map[string]string{"node1": "node2", "node2": "node1"}[node]
	inst := c.Instance
	switch c.Kind {
	case keys.CmdInstanceMigratePrepare:
		return keys.MigrateTarget{Disks: []string{"/dev/drbd1"}}, nil
	case keys.CmdDiskDualPrimary:
		var dp keys.DualPrimaryParams
		_ = json.Unmarshal(c.Params, &dp)
		p.allow[node] = dp.Allow
		if !dp.Allow && p.primaries() > 1 {
			p.violation("two primaries allowed no longer while both are primary")
		}
	case keys.CmdDiskPrimary:
		if p.role[peer] == "Primary" && !(p.allow[node] && p.allow[peer]) {
			return nil, api.Errorf(api.CodeWrongState, "Multiple primaries not allowed by config")
		}
		p.role[node] = "Primary"
	case keys.CmdDiskSecondary:
		if p.writer == node {
			return nil, api.Errorf(api.CodeWrongState, "device is held open by the workload")
		}
		p.role[node] = "Secondary"
	case keys.CmdInstanceMigrate:
		if p.cut != "" {
			p.paused[peer] = true
			p.publishDomain(ctx, peer, inst.Name, inst.UUID, keys.DomainPaused)
			switch p.cut {
			case "lost":
				p.writer = ""
				p.publishDomain(ctx, node, inst.Name, inst.UUID, keys.DomainMissing)
			case "paused":
				p.writer, p.paused[node] = "", true
				p.publishDomain(ctx, node, inst.Name, inst.UUID, keys.DomainPaused)
			}
			return nil, api.Errorf(api.CodeUnavailable, "injected: libvirtd of %s killed during the move (%s)", node, p.cut)
		}
		if p.writer != node {
			return nil, api.Errorf(api.CodeUnknownEntity, "no domain here")
		}
		p.writer = ""
		// Undefined; the instance's directory stays (as the agent says).
		p.publishDomain(ctx, node, inst.Name, inst.UUID, keys.DomainMissing)
		return keys.MigrateSourceOutput{LastAck: 42}, nil
	case keys.CmdInstanceMigrateFinish:
		if p.writer != "" && p.writer != node {
			p.violation("a writer starts on %s while %s's runs", node, p.writer)
		}
		if p.role[node] != "Primary" {
			p.violation("a writer starts on %s, which is %s", node, p.role[node])
		}
		if p.writer == "" && p.cut != "" && !p.paused[node] {
			p.violation("finish on %s, which holds no copy", node)
		}
		p.writer, p.paused[node] = node, false
		p.publishDomain(ctx, node, inst.Name, inst.UUID, keys.DomainRunning)
		return keys.MigrateFinishOutput{State: "running"}, nil
	case keys.CmdInstanceMigrateSettle:
		switch {
		case p.writer == node:
			return keys.MigrateSettleOutput{State: keys.DomainRunning, Active: true}, nil
		case p.paused[node]:
			return keys.MigrateSettleOutput{State: keys.DomainPaused, Active: true}, nil
		}
		return keys.MigrateSettleOutput{State: keys.DomainMissing}, nil
	case keys.CmdInstanceMigrateForget:
		if p.writer == node {
			return nil, api.Errorf(api.CodeWrongState, "runs here")
		}
		if p.paused[node] {
			p.paused[node] = false
			p.publishDomain(ctx, node, inst.Name, inst.UUID, keys.DomainMissing)
		}
	default:
		p.violation("unexpected command %s on %s", c.Kind, node)
	}
	return nil, nil
}

func (p *drbdPair) run(ctx context.Context, node string) {
	for wr := range p.c.Watch(ctx, keys.NodeCmdPrefix(node), clientv3.WithPrefix()) {
		for _, ev := range wr.Events {
			var c keys.NodeCommand
			if ev.Type != clientv3.EventTypePut || json.Unmarshal(ev.Kv.Value, &c) != nil {
				continue
			}
			out, e := p.answer(ctx, node, c)
			res := keys.NodeCommandResult{ID: c.ID, Epoch: c.Epoch, Done: true, Error: e, At: time.Now().UTC()}
			if out != nil {
				res.Output, _ = json.Marshal(out)
			}
			p.put(ctx, keys.NodeResultKey(node, c.ID), res)
		}
	}
}

// startDRBDPair runs a master, two nodes answered by a drbdPair, and a drbd
// workload instance db1 whose primary node1 runs it.
func startDRBDPair(t *testing.T) (*master.Master, *drbdPair) {
	c := mastertest.Start(t, mastertest.Options{Masters: 1})
	m := c.Masters[0].M
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &drbdPair{t: t, c: m.Client(), role: map[string]string{"node1": "Primary", "node2": "Secondary"}, allow: map[string]bool{}, writer: "node1", paused: map[string]bool{}}
	for _, n := range []string{"node1", "node2"} {
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: n}))
		if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
			t.Fatalf("node add %s: %+v", n, j.Error)
		}
		p.put(ctx, keys.NodeStatusKey(n), keys.NodeStatus{Hypervisor: "workload", HypervisorOK: true,
			Resources:   api.NodeResources{MemoryTotalMiB: 1024, MemoryFreeMiB: 1024, DiskTotalMiB: 2048, DiskFreeMiB: 2048, CPUs: 1},
			PublishedAt: time.Now().UTC(), StartedAt: time.Now().UTC()})
		go p.run(ctx, n)
	}
	rec := keys.InstanceRecord{Name: "db1", UUID: "5e1f0000-0000-4000-8000-000000000001", PrimaryNode: "node1",
		Hypervisor: "workload", DiskTemplate: "drbd", VCPUs: 1, MemoryMiB: 64, AdminUp: true, CreatedAt: time.Now().UTC(),
		Disks: []keys.DiskSpec{{SizeMiB: 64, DRBD: &keys.DRBDDisk{Resource: "db1-d0", Port: 11000, Secret: "s",
			Nodes: []keys.DRBDNode{{Node: "node1", IP: "10.0.0.1", Minor: 0}, {Node: "node2", IP: "10.0.0.2", Minor: 1, NodeID: 1}}}}}}
	p.put(ctx, keys.InstanceKey("db1"), rec)
	p.publishDomain(ctx, "node1", "db1", rec.UUID, keys.DomainRunning)
	return m, p
}

func migrateJob(t *testing.T, m *master.Master, o api.MigrateOptions) *api.Job {
	t.Helper()
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceMigrate, api.InstanceMigrate{Name: "db1", MigrateOptions: o}))
	return mastertest.WaitJob(t, m, id, 60*time.Second)
}

func (p *drbdPair) check(t *testing.T, primary string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bad) > 0 {
		t.Errorf("violations: %v (commands %v)", p.bad, p.cmds)
	}
	if p.primaries() != 1 || p.role[primary] != "Primary" || p.allow["node1"] || p.allow["node2"] {
		t.Errorf("after the job: roles %v, two primaries allowed %v; want only %s primary, not allowed", p.role, p.allow, primary)
	}
}

func recordOf(t *testing.T, m *master.Master) keys.InstanceRecord {
	t.Helper()
	resp, err := m.Client().Get(context.Background(), keys.InstanceKey("db1"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read record: %v", err)
	}
	var r keys.InstanceRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestMigrateDRBDSequence: the window opens on both peers, the target is
// promoted, the writer moves (stopped on the source first), the source is
// demoted, the window closes; the record changes only then.
func TestMigrateDRBDSequence(t *testing.T) {
	m, p := startDRBDPair(t)
	j := migrateJob(t, m, api.MigrateOptions{})
	if j.State != api.JobSuccess {
		t.Fatalf("migrate: %s %+v", j.State, j.Error)
	}
	p.check(t, "node2")
	want := "instance.migrate-prepare@node2 disk.dual-primary@node1 disk.dual-primary@node2 disk.primary@node2 " +
		"instance.migrate@node1 instance.migrate-finish@node2 disk.secondary@node1 disk.dual-primary@node1 disk.dual-primary@node2 " +
		"instance.migrate-forget@node1"
	if got := strings.Join(p.cmds, " "); got != want {
		t.Errorf("commands:\n %s\nwant\n %s", got, want)
	}
	r := recordOf(t, m)
	if r.PrimaryNode != "node2" || r.Disks[0].DRBD.Nodes[0].Node != "node2" {
		t.Errorf("record: primary %s, peers %+v", r.PrimaryNode, r.Disks[0].DRBD.Nodes)
	}
	var res api.MigrateResult
	if err := json.Unmarshal(j.Result, &res); err != nil || res.LastAck != 42 || res.Target != "node2" {
		t.Errorf("result %s: %v", j.Result, err)
	}
	// Submit-time refusals.
	for _, o := range []api.MigrateOptions{{TargetNode: "node2"}, {TargetNode: "node3"}} {
		id, err := m.SubmitJob(context.Background(), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpInstanceMigrate, api.InstanceMigrate{Name: "db1", MigrateOptions: o})}})
		if err == nil {
			t.Errorf("migrate to %q submitted as job %d", o.TargetNode, id)
		}
	}
}

// TestMigrateDRBDFailureReverted: the source's move fails: the target is
// demoted again, the window closed, the record unchanged, the writer still
// on the source; --cleanup then finds nothing to change.
func TestMigrateDRBDFailureReverted(t *testing.T) {
	m, p := startDRBDPair(t)
	p.failKind = keys.CmdInstanceMigrate
	j := migrateJob(t, m, api.MigrateOptions{})
	if j.State != api.JobError || !strings.Contains(j.Error.Message, "reverted") {
		t.Fatalf("migrate: %s %+v", j.State, j.Error)
	}
	p.check(t, "node1")
	if r := recordOf(t, m); r.PrimaryNode != "node1" || p.writer != "node1" {
		t.Errorf("after the failure: primary %s, writer on %s", r.PrimaryNode, p.writer)
	}
	p.mu.Lock()
	p.failKind = ""
	p.mu.Unlock()
	if j := migrateJob(t, m, api.MigrateOptions{Cleanup: true}); j.State != api.JobSuccess {
		t.Fatalf("cleanup: %s %+v", j.State, j.Error)
	}
	p.check(t, "node1")
}

// TestMigrateDRBDCleanup: a migration cut short after the move (both
// primary, two primaries allowed, the record still naming node1, node1's
// copy gone): the copy on node2 runs, or is paused (cut short before drover
// resumed it: --cleanup asks node1 first, then resumes it). Either way
// --cleanup makes node2 the primary in the record and the only DRBD primary,
// the writer on node2.
func TestMigrateDRBDCleanup(t *testing.T) {
	for _, state := range []string{keys.DomainRunning, keys.DomainPaused} {
		t.Run(state, func(t *testing.T) {
			m, p := startDRBDPair(t)
			ctx := context.Background()
			p.mu.Lock()
			p.role["node2"], p.allow["node1"], p.allow["node2"] = "Primary", true, true
			if state == keys.DomainRunning {
				p.writer = "node2"
			} else {
				p.writer, p.paused["node2"] = "", true
			}
			p.mu.Unlock()
			p.publishDomain(ctx, "node1", "db1", "5e1f0000-0000-4000-8000-000000000001", keys.DomainMissing)
			p.publishDomain(ctx, "node2", "db1", "5e1f0000-0000-4000-8000-000000000001", state)
			j := migrateJob(t, m, api.MigrateOptions{Cleanup: true})
			if j.State != api.JobSuccess {
				t.Fatalf("cleanup: %s %+v", j.State, j.Error)
			}
			p.check(t, "node2")
			p.mu.Lock()
			writer, cmds := p.writer, strings.Join(p.cmds, " ")
			p.mu.Unlock()
			settled := strings.Contains(cmds, "instance.migrate-settle@node1 instance.migrate-finish@node2")
			if writer != "node2" || settled != (state == keys.DomainPaused) {
				t.Errorf("writer on %q; commands %s", writer, cmds)
			}
			if r := recordOf(t, m); r.PrimaryNode != "node2" || r.Disks[0].DRBD.Nodes[0].Node != "node2" {
				t.Errorf("record after cleanup: %s %+v", r.PrimaryNode, r.Disks[0].DRBD.Nodes)
			}
		})
	}
}

// TestMigrateCutShort: instance.migrate fails as a libvirtd killed in the
// middle of the move leaves it. The source's copy is asked for once its
// hypervisor is idle: gone, and the target's paused copy is resumed (the
// move went through); still running or paused, and the target's copy is
// destroyed before the source's runs again (reverted). Never two writers,
// one DRBD primary, the record naming the node that runs it.
func TestMigrateCutShort(t *testing.T) {
	for _, tc := range []struct {
		cut, runs string
		ok        bool
		want      string
	}{
		{"lost", "node2", true, "instance.migrate@node1 instance.migrate-settle@node1 instance.migrate-finish@node2 disk.secondary@node1"},
		{"resumed", "node1", false, "instance.migrate@node1 instance.migrate-settle@node1 instance.migrate-forget@node2 disk.secondary@node2"},
		{"paused", "node1", false, "instance.migrate@node1 instance.migrate-settle@node1 instance.migrate-forget@node2 disk.secondary@node2 " +
			"disk.dual-primary@node1 disk.dual-primary@node2 instance.migrate-finish@node1"},
	} {
		t.Run(tc.cut, func(t *testing.T) {
			m, p := startDRBDPair(t)
			p.mu.Lock()
			p.cut, p.failKind = tc.cut, keys.CmdInstanceMigrate
			p.mu.Unlock()
			j := migrateJob(t, m, api.MigrateOptions{})
			if tc.ok != (j.State == api.JobSuccess) || !tc.ok && (j.Error == nil || !strings.Contains(j.Error.Message, "reverted")) {
				t.Fatalf("migrate: %s %+v", j.State, j.Error)
			}
			p.check(t, tc.runs)
			p.mu.Lock()
			got := strings.Join(p.cmds, " ")
			writer, paused := p.writer, p.paused
			p.mu.Unlock()
			if !strings.Contains(got, tc.want) {
				t.Errorf("commands:\n %s\nwant in order\n %s", got, tc.want)
			}
			if writer != tc.runs || paused["node1"] || paused["node2"] {
				t.Errorf("writer on %q, paused copies %v; want the writer on %s and no paused copy", writer, paused, tc.runs)
			}
			if r := recordOf(t, m); r.PrimaryNode != tc.runs {
				t.Errorf("record: primary %s, want %s", r.PrimaryNode, tc.runs)
			}
		})
	}
}
