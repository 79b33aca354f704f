package nodeagent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/google/uuid"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/nodeagent"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/hv/libvirt"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

// harness is a real in-process master (embedded etcd) and one agent of node
// "n1" driving drv, both stopped at cleanup.
type harness struct {
	t       testing.TB
	c       *mastertest.Cluster
	m       *master.Master
	node    string
	drv     hv.Driver
	storage string
	agent   *nodeagent.Agent
	epoch   int64
	seq     atomic.Int64
	stop    func()
	cfg     nodeagent.Config
}

type harnessOpts struct {
	Staging  string
	Storage  string
	APIToken string
}

func startHarness(t testing.TB, drv hv.Driver, o harnessOpts) *harness {
	t.Helper()
	c := mastertest.Start(t, mastertest.Options{})
	m := c.Masters[0].M
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "n1"}))
	if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("node add: %+v", j)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cred, err := m.NodeCredentials(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if o.Storage == "" {
		o.Storage = t.TempDir()
	}
	h := &harness{t: t, c: c, m: m, node: "n1", drv: drv, storage: o.Storage, epoch: 100}
	h.cfg = nodeagent.Config{
		Credentials: *cred, Driver: drv, StorageDir: o.Storage, StagingDir: o.Staging, APIToken: o.APIToken,
		DomainResync: 500 * time.Millisecond,
	}
	h.startAgent()
	h.waitFor(15*time.Second, "node n1 online", func() bool {
		n, err := m.GetNode(context.Background(), "n1")
		return err == nil && n.Status == api.NodeOnline
	})
	return h
}

// startAgent runs a (new) agent with the harness's config until stop.
func (h *harness) startAgent() {
	t := h.t
	a, err := nodeagent.New(h.cfg, hvtest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	h.agent = a
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	stopped := false
	h.stop = func() {
		if stopped {
			return
		}
		stopped = true
		acancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Errorf("agent did not stop")
		}
	}
	t.Cleanup(h.stop)
}

func (h *harness) waitFor(timeout time.Duration, what string, cond func() bool) {
	h.t.Helper()
	realtest.WaitFor(h.t, timeout, what, cond)
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

// send writes a command as the leader would (root etcd client) and returns it.
func (h *harness) send(kind string, inst keys.InstanceRecord, params any, mod func(*keys.NodeCommand)) keys.NodeCommand {
	h.t.Helper()
	c := keys.NodeCommand{ID: fmt.Sprintf("1-%s-%d", kind, h.seq.Add(1)), Epoch: h.epoch, Kind: kind, Instance: inst, CreatedAt: time.Now().UTC()}
	if params != nil {
		b, _ := json.Marshal(params)
		c.Params = b
	}
	if mod != nil {
		mod(&c)
	}
	h.put(c)
	return c
}

func (h *harness) put(c keys.NodeCommand) {
	h.t.Helper()
	b, _ := json.Marshal(c)
	if _, err := h.m.Client().Put(h.ctx(), keys.NodeCommandKey(h.node, c.ID), string(b)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) result(id string) (keys.NodeCommandResult, bool) {
	resp, err := h.m.Client().Get(h.ctx(), keys.NodeResultKey(h.node, id))
	if err != nil || len(resp.Kvs) == 0 {
		return keys.NodeCommandResult{}, false
	}
	var r keys.NodeCommandResult
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		h.t.Fatal(err)
	}
	if resp.Kvs[0].Lease == 0 {
		h.t.Errorf("result %s not bound to a lease", id)
	}
	return r, true
}

// wait waits for the final result of command id.
func (h *harness) wait(id string, timeout time.Duration) keys.NodeCommandResult {
	h.t.Helper()
	var r keys.NodeCommandResult
	h.waitFor(timeout, "result of "+id, func() bool {
		var ok bool
		r, ok = h.result(id)
		return ok && r.Done
	})
	return r
}

// run sends a command and waits for its successful result.
func (h *harness) run(kind string, inst keys.InstanceRecord, params any, timeout time.Duration) keys.NodeCommandResult {
	h.t.Helper()
	c := h.send(kind, inst, params, nil)
	r := h.wait(c.ID, timeout)
	if r.Error != nil {
		h.t.Fatalf("%s %s: %v", kind, inst.Name, r.Error)
	}
	return r
}

func (h *harness) domainStatus(name string) (keys.DomainStatus, bool) {
	resp, err := h.m.Client().Get(h.ctx(), keys.NodeDomainKey(h.node, name))
	if err != nil || len(resp.Kvs) == 0 {
		return keys.DomainStatus{}, false
	}
	var s keys.DomainStatus
	_ = json.Unmarshal(resp.Kvs[0].Value, &s)
	if resp.Kvs[0].Lease == 0 {
		h.t.Errorf("domain status of %s not bound to a lease", name)
	}
	return s, true
}

func (h *harness) waitDomain(name, state string, timeout time.Duration) {
	h.t.Helper()
	h.waitFor(timeout, "domain "+name+" "+state, func() bool {
		s, ok := h.domainStatus(name)
		if state == "" {
			return !ok
		}
		return ok && s.State == state
	})
}

func (h *harness) hvState(name string) hv.DomainState {
	st, err := h.drv.State(h.ctx(), name)
	if errors.Is(err, hv.ErrNotFound) {
		return ""
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

func instance(name string, kind hv.Kind) keys.InstanceRecord {
	return keys.InstanceRecord{
		Name: name, UUID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(name)).String(), PrimaryNode: "n1", Hypervisor: string(kind), DiskTemplate: "file",
		Disks: []keys.DiskSpec{{SizeMiB: 64}, {SizeMiB: 32}}, NICs: []keys.NICSpec{{MAC: "aa:00:00:00:01:01"}},
		VCPUs: 1, MemoryMiB: 128, AdminUp: true,
	}
}

// lifecycle runs create/start/shutdown/remove, epoch refusal, re-runs and
// DomainStatus checks against one driver.
func lifecycle(t *testing.T, drv hv.Driver) {
	h := startHarness(t, drv, harnessOpts{})
	inst := instance("web1", drv.Name())

	// create: blank file disks (no template) and a defined, stopped domain.
	create := h.send(keys.CmdInstanceCreate, inst, nil, nil)
	r := h.wait(create.ID, 60*time.Second)
	if r.Error != nil {
		t.Fatalf("create: %v", r.Error)
	}
	var out keys.CreateOutput
	if err := json.Unmarshal(r.Output, &out); err != nil || len(out.Disks) != 2 {
		t.Fatalf("create output %s: %v", r.Output, err)
	}
	for i, want := range []int64{64, 32} {
		st, err := os.Stat(filepath.Join(h.storage, "instances", "web1", fmt.Sprintf("disk%d.img", i)))
		if err != nil || st.Size() != want<<20 {
			t.Fatalf("disk %d: %v %v", i, st, err)
		}
	}
	if st := h.hvState("web1"); st != hv.StateStopped {
		t.Fatalf("after create: state %q", st)
	}
	h.waitDomain("web1", keys.DomainStopped, 10*time.Second)

	// The same command written again is not run again: its result stays.
	at := r.At
	h.put(create)
	time.Sleep(time.Second)
	if r2, _ := h.result(create.ID); !r2.At.Equal(at) {
		t.Fatalf("command %s ran twice (result at %v, then %v)", create.ID, at, r2.At)
	}
	// A new create of an existing instance succeeds without doing anything.
	h.run(keys.CmdInstanceCreate, inst, nil, 30*time.Second)

	// start, and DomainStatus follows within seconds.
	t0 := time.Now()
	h.run(keys.CmdInstanceStart, inst, nil, 60*time.Second)
	h.waitDomain("web1", keys.DomainRunning, 10*time.Second)
	t.Logf("start to DomainStatus running: %s", time.Since(t0).Round(time.Millisecond))
	h.run(keys.CmdInstanceStart, inst, nil, 30*time.Second) // idempotent
	if drv.Name() == hv.KindFake {
		r := h.run("instance.console", inst, map[string]int{"max_bytes": 4096}, 30*time.Second)
		var co struct{ Text string }
		if err := json.Unmarshal(r.Output, &co); err != nil || !strings.Contains(co.Text, "web1") {
			t.Errorf("console output %s: %v", r.Output, err)
		}
	}

	// A newer leader's command raises the epoch; an older one is refused.
	h.epoch = 200
	h.run(keys.CmdInstanceReboot, inst, nil, 60*time.Second)
	stale := h.send(keys.CmdInstanceShutdown, inst, keys.ShutdownParams{TimeoutSeconds: 5}, func(c *keys.NodeCommand) { c.Epoch = 150 })
	r = h.wait(stale.ID, 30*time.Second)
	if r.Error == nil || r.Error.Code != api.CodeWrongState {
		t.Fatalf("stale command: want wrong_state, got %+v", r)
	}
	if st := h.hvState("web1"); !st.Active() {
		t.Fatalf("stale shutdown was executed: state %q", st)
	}

	// shutdown, modify while stopped, grow a disk, remove.
	h.run(keys.CmdInstanceShutdown, inst, keys.ShutdownParams{TimeoutSeconds: 5}, 60*time.Second)
	h.waitDomain("web1", keys.DomainStopped, 10*time.Second)
	h.run(keys.CmdInstanceShutdown, inst, nil, 30*time.Second) // idempotent
	inst.MemoryMiB = 192
	h.run(keys.CmdInstanceModify, inst, nil, 30*time.Second)
	doms, err := drv.List(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range doms {
		if d.Name == "web1" && d.MemoryMiB != 192 {
			t.Errorf("modify: memory %d MiB", d.MemoryMiB)
		}
	}
	grow := keys.GrowDiskParams{Disk: 1, AmountMiB: 16}
	h.run(keys.CmdInstanceGrowDisk, inst, grow, 30*time.Second)
	h.run(keys.CmdInstanceGrowDisk, inst, grow, 30*time.Second) // same target: no second grow
	if st, _ := os.Stat(filepath.Join(h.storage, "instances", "web1", "disk1.img")); st == nil || st.Size() != 48<<20 {
		t.Errorf("grow-disk: %v", st)
	}
	// reinstall (no template: fresh blank disks of the record's sizes).
	h.run(keys.CmdInstanceReinstall, inst, nil, 60*time.Second)
	if st, _ := os.Stat(filepath.Join(h.storage, "instances", "web1", "disk1.img")); st == nil || st.Size() != 32<<20 {
		t.Errorf("reinstall: disk1 %v", st)
	}
	// rename there and back; a re-run of a rename is a no-op.
	ren := h.send(keys.CmdInstanceRename, inst, keys.RenameParams{NewName: "web3"}, nil)
	if r := h.wait(ren.ID, 30*time.Second); r.Error != nil {
		t.Fatalf("rename: %v", r.Error)
	}
	if st := h.hvState("web3"); st != hv.StateStopped || h.hvState("web1") != "" {
		t.Fatalf("after rename: web3 %q, web1 %q", st, h.hvState("web1"))
	}
	if _, err := os.Stat(filepath.Join(h.storage, "instances", "web3", "disk0.img")); err != nil {
		t.Fatalf("rename did not move the disks: %v", err)
	}
	h.run(keys.CmdInstanceRename, inst, keys.RenameParams{NewName: "web3"}, 30*time.Second)
	h.waitDomain("web3", keys.DomainStopped, 10*time.Second)
	inst3 := inst
	inst3.Name = "web3"
	h.run(keys.CmdInstanceRename, inst3, keys.RenameParams{NewName: "web1"}, 30*time.Second)
	h.waitDomain("web3", "", 10*time.Second)
	// Modify of a running instance is refused with wrong_state.
	h.run(keys.CmdInstanceStart, inst, nil, 60*time.Second)
	bad := h.send(keys.CmdInstanceModify, inst, nil, nil)
	if r := h.wait(bad.ID, 30*time.Second); r.Error == nil || r.Error.Code != api.CodeWrongState {
		t.Fatalf("modify running: %+v", r)
	}

	h.run(keys.CmdInstanceRemove, inst, nil, 60*time.Second)
	if st := h.hvState("web1"); st != "" {
		t.Fatalf("after remove: state %q", st)
	}
	if _, err := os.Stat(filepath.Join(h.storage, "instances", "web1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("disks left after remove: %v", err)
	}
	h.waitDomain("web1", "", 10*time.Second)
	h.run(keys.CmdInstanceRemove, inst, nil, 30*time.Second) // idempotent

	// Unknown instance and unknown kind have stable codes.
	r = h.wait(h.send(keys.CmdInstanceStart, instance("nope", drv.Name()), nil, nil).ID, 30*time.Second)
	if r.Error == nil || r.Error.Code != api.CodeUnknownEntity {
		t.Fatalf("start unknown: %+v", r)
	}
	r = h.wait(h.send("instance.bogus", inst, nil, nil).ID, 30*time.Second)
	if r.Error == nil || r.Error.Code != api.CodeWrongInput {
		t.Fatalf("bogus kind: %+v", r)
	}
}

func TestAgentCommandsFake(t *testing.T) {
	lifecycle(t, fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096}))
}

// TestAgentCommandsLibvirtTest drives libvirt's test hypervisor through a
// private libvirtd.
func TestAgentCommandsLibvirtTest(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drv, err := libvirt.New(ctx, libvirt.Options{Kind: hv.KindTest, URI: dmn.URI("test"), Logger: hvtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	lifecycle(t, drv)
}

// TestCreateFailureLeavesNothing: a create that fails at its last step
// (define: the name is taken by a foreign domain) removes its disks.
func TestCreateFailureLeavesNothing(t *testing.T) {
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	h := startHarness(t, drv, harnessOpts{})
	inst := instance("web2", hv.KindFake)
	inst.Disks = []keys.DiskSpec{{SizeMiB: 1 << 30}} // more than any test disk has
	r := h.wait(h.send(keys.CmdInstanceCreate, inst, nil, nil).ID, 30*time.Second)
	if r.Error == nil || r.Error.Code != api.CodeInsufficientResources {
		t.Fatalf("create with a huge disk: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(h.storage, "instances", "web2")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("files left after a failed create: %v", err)
	}
	if st := h.hvState("web2"); st != "" {
		t.Fatalf("domain left after a failed create: %q", st)
	}
	// A template that cannot be fetched: nothing left either.
	inst.Disks = []keys.DiskSpec{{SizeMiB: 64}}
	r = h.wait(h.send(keys.CmdInstanceCreate, inst, nil, func(c *keys.NodeCommand) {
		c.TemplateDigest = "sha256:" + fmt.Sprintf("%064x", 1)
		c.TemplateURLs = []string{"http://127.0.0.1:1"}
	}).ID, 30*time.Second)
	if r.Error == nil || r.Error.Code != api.CodeUnavailable {
		t.Fatalf("create with an unreachable template: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(h.storage, "instances", "web2")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("files left after a failed create: %v", err)
	}
}

// TestSelfFence: an agent that loses its lease (the masters, and so etcd,
// are gone) destroys its running domains before the lease can expire.
func TestSelfFence(t *testing.T) {
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	h := startHarness(t, drv, harnessOpts{})
	inst := instance("db1", hv.KindFake)
	h.run(keys.CmdInstanceCreate, inst, nil, 30*time.Second)
	h.run(keys.CmdInstanceStart, inst, nil, 30*time.Second)
	h.waitDomain("db1", keys.DomainRunning, 10*time.Second)
	lost := time.Now()
	h.c.StopAll()
	h.waitFor(15*time.Second, "self-fence", func() bool {
		st, err := drv.State(context.Background(), "db1")
		return err == nil && !st.Active()
	})
	// The cluster's lease TTL is 5 s: the fence must come before it.
	if d := time.Since(lost); d > 5*time.Second {
		t.Fatalf("self-fence took %s, longer than the lease TTL", d)
	} else {
		t.Logf("self-fence %s after the masters stopped", d.Round(time.Millisecond))
	}
}

// TestRestartDoesNotRerun: after an agent restart (its lease, and with it
// the results in etcd, are gone) finished commands are answered from the
// node's record instead of being run again.
func TestRestartDoesNotRerun(t *testing.T) {
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	h := startHarness(t, drv, harnessOpts{})
	inst := instance("app1", hv.KindFake)
	create := h.send(keys.CmdInstanceCreate, inst, nil, nil)
	h.wait(create.ID, 30*time.Second)
	start := h.send(keys.CmdInstanceStart, inst, nil, nil)
	if r := h.wait(start.ID, 30*time.Second); r.Error != nil {
		t.Fatal(r.Error)
	}
	// The guest stops behind the agent's back; then the agent restarts.
	h.stop()
	h.waitFor(15*time.Second, "results gone with the lease", func() bool {
		_, ok := h.result(start.ID)
		return !ok
	})
	if err := drv.Destroy(context.Background(), "app1"); err != nil {
		t.Fatal(err)
	}
	h.startAgent()
	r := h.wait(start.ID, 30*time.Second)
	if r.Error != nil {
		t.Fatalf("republished start result: %+v", r)
	}
	time.Sleep(time.Second)
	if st := h.hvState("app1"); st.Active() {
		t.Fatalf("start was run again after the restart: %q", st)
	}
	h.waitDomain("app1", keys.DomainStopped, 10*time.Second)
}

// TestManyInstancesAtOnce: commands for several instances written at once
// run in parallel across instances and in order per instance (each start
// follows its create).
func TestManyInstancesAtOnce(t *testing.T) {
	drv := fake.New(fake.Options{CPUs: 16, MemoryMiB: 16384})
	h := startHarness(t, drv, harnessOpts{})
	var ids []string
	for i := range 8 {
		inst := instance(fmt.Sprintf("vm%d", i), hv.KindFake)
		inst.NICs = []keys.NICSpec{{MAC: fmt.Sprintf("aa:00:00:00:04:%02x", i)}}
		ids = append(ids, h.send(keys.CmdInstanceCreate, inst, nil, nil).ID, h.send(keys.CmdInstanceStart, inst, nil, nil).ID)
	}
	for _, id := range ids {
		if r := h.wait(id, 60*time.Second); r.Error != nil {
			t.Fatalf("%s: %v", id, r.Error)
		}
	}
	for i := range 8 {
		h.waitDomain(fmt.Sprintf("vm%d", i), keys.DomainRunning, 10*time.Second)
	}
}

// TestAgentCommandsKVM drives QEMU (TCG) through a private libvirtd: the
// guests have blank disks and boot nothing, which is all the lifecycle
// needs (shutdown ends by destroy after its timeout).
func TestAgentCommandsKVM(t *testing.T) {
	hvtest.NeedBinaries(t, "qemu-system-x86_64")
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	lifecycle(t, newLibvirtDriver(t, hv.KindKVM, dmn.URI("qemu")))
}

// TestStartRedefinesLostDomain: a start finds no domain (a hypervisor
// without persistent state restarted, or the domain was undefined by hand)
// but the instance's files: it defines the domain again from the record and
// starts it. Without files it refuses.
func TestStartRedefinesLostDomain(t *testing.T) {
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	h := startHarness(t, drv, harnessOpts{})
	inst := instance("web3", hv.KindFake)
	h.run(keys.CmdInstanceCreate, inst, nil, 30*time.Second)
	if err := drv.Undefine(h.ctx(), "web3"); err != nil {
		t.Fatal(err)
	}
	if st := h.hvState("web3"); st != "" {
		t.Fatalf("domain still there after undefine: %q", st)
	}
	h.run(keys.CmdInstanceStart, inst, nil, 30*time.Second)
	if st := h.hvState("web3"); st != hv.StateRunning {
		t.Fatalf("after start of a lost domain: %q, want running", st)
	}
	h.waitDomain("web3", keys.DomainRunning, 10*time.Second)
	// Its disks are the instance's own files, not new ones.
	infos, err := drv.List(h.ctx())
	if err != nil || len(infos) != 1 || infos[0].Name != "web3" {
		t.Fatalf("domains %+v, %v", infos, err)
	}

	// No domain and no files (never created here): refused, nothing defined.
	ghost := instance("ghost", hv.KindFake)
	r := h.wait(h.send(keys.CmdInstanceStart, ghost, nil, nil).ID, 30*time.Second)
	if r.Error == nil || r.Error.Code != api.CodeUnknownEntity {
		t.Fatalf("start of an instance with no files: %+v", r)
	}
	if st := h.hvState("ghost"); st != "" {
		t.Fatalf("a domain was defined for an instance with no files: %q", st)
	}
}
