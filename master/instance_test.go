package master_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/master/mastertest/agenttest"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// tinyRootfs is mastertest.TinyRootfs (kept as a name for this package's tests).
func tinyRootfs(t *testing.T) []byte { return mastertest.TinyRootfs(t) }

type instEnv struct {
	c   *mastertest.Cluster
	m   *master.Master
	a   *agenttest.Agent // the real agent of node1, on the fake hypervisor
	drv *fake.Driver
	si  *standIn // startStandInEnv only
}

// startInstEnv is one master, node1 with its real agent on the fake
// hypervisor, node2 without an agent (unreachable), and template tiny.
func startInstEnv(t *testing.T) *instEnv {
	t.Helper()
	c := mastertest.Start(t, mastertest.Options{Masters: 1, API: true})
	m := c.Masters[0].M
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	a := agenttest.Start(t, m, "node1", drv)
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "node2"}))
	if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
		t.Fatalf("node add node2: %+v", j.Error)
	}
	if _, err := m.ImportTemplate(ctx(t), mastertest.Admin, "tiny", bytes.NewReader(tinyRootfs(t))); err != nil {
		t.Fatalf("import template: %v", err)
	}
	return &instEnv{c: c, m: m, a: a, drv: drv}
}

func (e *instEnv) run(t *testing.T, kind string, params any) *api.Job {
	t.Helper()
	id := mastertest.Submit(t, e.m, 0, mastertest.Op(t, kind, params))
	return mastertest.WaitJob(t, e.m, id, 30*time.Second)
}

func (e *instEnv) status(t *testing.T, name string) string {
	t.Helper()
	in, err := e.m.GetInstance(ctx(t), name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return in.Status
}

func waitStatus(t *testing.T, e *instEnv, name, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	got := ""
	for time.Now().Before(deadline) {
		if got = e.status(t, name); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("instance %s: status %s, want %s", name, got, want)
}

func addReq(name string) api.InstanceAdd {
	return api.InstanceAdd{Name: name, DiskTemplate: "diskless", OS: "tiny", Node: "node1", VCPUs: 1, MemoryMiB: 128}
}

func TestInstanceMaster(t *testing.T) {
	e := startInstEnv(t)
	m, c := e.m, e.c

	t.Run("add validation", func(t *testing.T) {
		mod := func(f func(*api.InstanceAdd)) api.InstanceAdd { a := addReq("v1"); f(&a); return a }
		for name, tc := range map[string]struct {
			a    api.InstanceAdd
			code api.Code
		}{
			"bad name":          {mod(func(a *api.InstanceAdd) { a.Name = "Bad_Name" }), api.CodeWrongInput},
			"unknown template":  {mod(func(a *api.InstanceAdd) { a.OS = "nope" }), api.CodeUnknownEntity},
			"unknown version":   {mod(func(a *api.InstanceAdd) { a.OS = "tiny@7" }), api.CodeUnknownEntity},
			"unknown node":      {mod(func(a *api.InstanceAdd) { a.Node = "node9" }), api.CodeUnknownEntity},
			"no node fits":      {mod(func(a *api.InstanceAdd) { a.Node, a.MemoryMiB = "", 8192 }), api.CodeInsufficientResources},
			"unreachable node":  {mod(func(a *api.InstanceAdd) { a.Node = "node2" }), api.CodeWrongState},
			"hypervisor":        {mod(func(a *api.InstanceAdd) { a.Hypervisor = "kvm" }), api.CodeWrongInput},
			"disk template":     {mod(func(a *api.InstanceAdd) { a.DiskTemplate = "drbd" }), api.CodeWrongInput},
			"diskless disks":    {mod(func(a *api.InstanceAdd) { a.Disks = []api.InstanceDisk{{SizeMiB: 10}} }), api.CodeWrongInput},
			"file without disk": {mod(func(a *api.InstanceAdd) { a.DiskTemplate = "file" }), api.CodeWrongInput},
			"memory":            {mod(func(a *api.InstanceAdd) { a.MemoryMiB = 8 }), api.CodeWrongInput},
			"vcpus":             {mod(func(a *api.InstanceAdd) { a.VCPUs = 0 }), api.CodeWrongInput},
			"too much memory":   {mod(func(a *api.InstanceAdd) { a.MemoryMiB = 8192 }), api.CodeInsufficientResources},
			"too much disk": {mod(func(a *api.InstanceAdd) {
				a.DiskTemplate, a.Disks = "file", []api.InstanceDisk{{SizeMiB: 60 << 20}} // 60 TiB
			}), api.CodeInsufficientResources},
			"mac given": {mod(func(a *api.InstanceAdd) { a.NICs = []api.InstanceNIC{{MAC: "aa:00:00:00:00:09"}} }), api.CodeWrongInput},
		} {
			_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpInstanceAdd, tc.a)}})
			if api.CodeOf(err) != tc.code {
				t.Errorf("%s: got %v, want %s", name, err, tc.code)
			}
		}
	})

	t.Run("lifecycle and status", func(t *testing.T) {
		a := addReq("web1")
		a.NICs = []api.InstanceNIC{{Link: "br0"}, {}}
		if j := e.run(t, api.OpInstanceAdd, a); j.State != api.JobSuccess {
			t.Fatalf("add: %+v", j.Error)
		}
		in, err := m.GetInstance(ctx(t), "web1")
		if err != nil {
			t.Fatal(err)
		}
		if in.Status != api.InstRunning || in.AdminState != "up" || len(in.NICs) != 2 || in.NICs[0].MAC == in.NICs[1].MAC ||
			!strings.HasPrefix(in.NICs[0].MAC, "aa:00:00:") || in.NICs[0].Link != "br0" || in.Hypervisor != "fake" || in.OSVersion != 1 {
			t.Fatalf("instance %+v", in)
		}
		_, err = m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpInstanceAdd, addReq("web1"))}})
		if api.CodeOf(err) != api.CodeAlreadyExists {
			t.Fatalf("duplicate add: %v", err)
		}
		if j := e.run(t, api.OpInstanceShutdown, api.InstanceShutdown{Name: "web1"}); j.State != api.JobSuccess {
			t.Fatalf("shutdown: %+v", j.Error)
		}
		waitStatus(t, e, "web1", api.InstAdminDown, 5*time.Second)
		// The domain runs though it should not.
		if err := e.drv.Start(ctx(t), "web1"); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, e, "web1", api.InstErrorUp, 5*time.Second)
		if err := e.drv.Destroy(ctx(t), "web1"); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, e, "web1", api.InstAdminDown, 5*time.Second)
		if j := e.run(t, api.OpInstanceStartup, api.InstanceStartup{Name: "web1"}); j.State != api.JobSuccess {
			t.Fatalf("startup: %+v", j.Error)
		}
		waitStatus(t, e, "web1", api.InstRunning, 5*time.Second)
		// Node unreachable (its agent stops: lease gone), then back, then
		// offline. The stop is clean: the agent does not fence itself.
		e.a.Stop()
		waitStatus(t, e, "web1", api.InstErrorNodeDown, 5*time.Second)
		e.a.Start()
		waitStatus(t, e, "web1", api.InstRunning, 30*time.Second)
		off := true
		if j := e.run(t, api.OpNodeModify, api.NodeModifyOp{Name: "node1", NodeModify: api.NodeModify{Offline: &off}}); j.State != api.JobSuccess {
			t.Fatalf("node offline: %+v", j.Error)
		}
		waitStatus(t, e, "web1", api.InstErrorNodeOffline, 5*time.Second)
		off = false
		if j := e.run(t, api.OpNodeModify, api.NodeModifyOp{Name: "node1", NodeModify: api.NodeModify{Offline: &off}}); j.State != api.JobSuccess {
			t.Fatalf("node online: %+v", j.Error)
		}
		// Rename needs the instance stopped.
		_, err = m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{
			mastertest.Op(t, api.OpInstanceRename, api.InstanceRename{Name: "web1", RenameOptions: api.RenameOptions{NewName: "web2"}})}})
		if api.CodeOf(err) != api.CodeWrongState {
			t.Fatalf("rename of a running instance: %v", err)
		}
		if j := e.run(t, api.OpInstanceRemove, api.InstanceName{Name: "web1"}); j.State != api.JobSuccess {
			t.Fatalf("remove: %+v", j.Error)
		}
		if _, err := m.GetInstance(ctx(t), "web1"); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("after remove: %v", err)
		}
	})

	t.Run("allocator places without a node", func(t *testing.T) {
		a := addReq("placed1")
		a.Node = ""
		j := e.run(t, api.OpInstanceAdd, a)
		if j.State != api.JobSuccess {
			t.Fatalf("add: %+v", j.Error)
		}
		// node2 has no agent: only node1 can take it.
		in, err := m.GetInstance(ctx(t), "placed1")
		if err != nil || in.PrimaryNode != "node1" || in.Status != api.InstRunning {
			t.Fatalf("placed1: %+v %v", in, err)
		}
		if j := e.run(t, api.OpInstanceRemove, api.InstanceName{Name: "placed1"}); j.State != api.JobSuccess {
			t.Fatalf("remove: %+v", j.Error)
		}
	})

	t.Run("failed add leaves nothing", func(t *testing.T) {
		// The hypervisor refuses the define: the agent's create fails and
		// reverts, the master's undo removes (nothing left) and deletes the
		// record.
		e.a.Driver.Fail("define", "bad1", hv.ErrInsufficientResources)
		defer e.a.Driver.Fail("define", "bad1", nil)
		j := e.run(t, api.OpInstanceAdd, addReq("bad1"))
		if j.State != api.JobError || j.Error.Code != api.CodeInsufficientResources || !strings.Contains(j.Error.Message, "undone") {
			t.Fatalf("add: %+v %+v", j.State, j.Error)
		}
		nothingLeft := func(name string) {
			t.Helper()
			if ok, _ := m.Client().Get(ctx(t), keys.InstanceKey(name), clientv3.WithCountOnly()); ok.Count != 0 {
				t.Fatalf("record of the failed add of %s left behind", name)
			}
			if _, err := e.drv.State(ctx(t), name); !errors.Is(err, hv.ErrNotFound) {
				t.Fatalf("domain of the failed add of %s left behind: %v", name, err)
			}
			if _, err := os.Stat(filepath.Join(e.a.Storage, "instances", name)); !os.IsNotExist(err) {
				t.Fatalf("files of the failed add of %s left behind: %v", name, err)
			}
		}
		nothingLeft("bad1")
		list, err := m.ListInstances(ctx(t))
		if err != nil || len(list) != 0 {
			t.Fatalf("list %v %v", list, err)
		}
		// A failed start is undone too: the created domain is removed.
		e.a.Driver.Fail("start", "bad2", hv.ErrWrongState)
		defer e.a.Driver.Fail("start", "bad2", nil)
		j = e.run(t, api.OpInstanceAdd, addReq("bad2"))
		if j.State != api.JobError || j.Error.Code != api.CodeWrongState {
			t.Fatalf("add: %+v", j.Error)
		}
		if e.a.Driver.Calls("define", "bad2") != 1 || e.a.Driver.Calls("undefine", "bad2") != 1 {
			t.Fatalf("bad2: define %d, undefine %d; want 1 and 1", e.a.Driver.Calls("define", "bad2"), e.a.Driver.Calls("undefine", "bad2"))
		}
		nothingLeft("bad2")
	})

	t.Run("auto restart limit", func(t *testing.T) {
		if j := e.run(t, api.OpInstanceAdd, addReq("auto1")); j.State != api.JobSuccess {
			t.Fatalf("add: %+v", j.Error)
		}
		for i := 1; i <= keys.MaxAutoRestarts+1; i++ {
			if j := e.run(t, api.OpInstanceStartup, api.InstanceStartup{Name: "auto1", Auto: true}); j.State != api.JobSuccess {
				t.Fatalf("auto startup %d: %+v", i, j.Error)
			}
		}
		in, _ := m.GetInstance(ctx(t), "auto1")
		if !in.GaveUp || in.Restarts != keys.MaxAutoRestarts {
			t.Fatalf("after %d automatic restarts: %+v", keys.MaxAutoRestarts+1, in)
		}
		if err := e.drv.Crash("auto1"); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, e, "auto1", api.InstErrorDown, 5*time.Second)
		// An admin startup resets the count.
		if j := e.run(t, api.OpInstanceStartup, api.InstanceStartup{Name: "auto1"}); j.State != api.JobSuccess {
			t.Fatalf("startup: %+v", j.Error)
		}
		in, _ = m.GetInstance(ctx(t), "auto1")
		if in.GaveUp || in.Restarts != 0 || in.Status != api.InstRunning {
			t.Fatalf("after admin startup: %+v", in)
		}
	})

	t.Run("watcher restarts a crashed instance", func(t *testing.T) {
		starts := e.a.Driver.Calls("start", "auto1")
		if err := e.drv.Crash("auto1"); err != nil {
			t.Fatal(err)
		}
		waitStatus(t, e, "auto1", api.InstErrorDown, 5*time.Second)
		// Grace (5 s) plus a tick or two of the watcher (2 s).
		waitStatus(t, e, "auto1", api.InstRunning, 20*time.Second)
		in, _ := m.GetInstance(ctx(t), "auto1")
		if in.Restarts != 1 || e.a.Driver.Calls("start", "auto1") != starts+1 {
			t.Fatalf("restarts %d, want 1; domain started %d times", in.Restarts, e.a.Driver.Calls("start", "auto1")-starts)
		}
	})

	t.Run("watcher removes an abandoned add", func(t *testing.T) {
		// A record still marked as being created by a job that ended (here
		// a failed debug job) is removed from the node and from etcd.
		j := e.run(t, api.OpDebugDelay, api.DebugDelay{Duration: "10ms", Steps: 1, Fail: true})
		if j.State != api.JobError {
			t.Fatalf("debug job: %+v", j)
		}
		rec := keys.InstanceRecord{Name: "orphan1", UUID: "4d3c2b1a-0000-4000-8000-0000000000a1", PrimaryNode: "node1", OS: "tiny", OSVersion: 1,
			DiskTemplate: "diskless", VCPUs: 1, MemoryMiB: 128, CreatingJob: j.ID}
		// What that add had made on node1: its domain.
		if err := e.drv.Define(ctx(t), hv.DomainSpec{Name: "orphan1", UUID: rec.UUID, Kind: hv.KindFake, VCPUs: 1, MemoryMiB: 128}); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(rec)
		if _, err := m.Client().Put(ctx(t), keys.InstanceKey("orphan1"), string(b)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, err := m.Client().Get(ctx(t), keys.InstanceKey("orphan1"), clientv3.WithCountOnly())
			if err == nil && r.Count == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("abandoned record not removed")
			}
			time.Sleep(100 * time.Millisecond)
		}
		mastertest.WaitFor(t, 10*time.Second, "the abandoned domain removed from node1", func() bool {
			_, err := e.drv.State(ctx(t), "orphan1")
			return errors.Is(err, hv.ErrNotFound)
		})
	})

	t.Run("mac allocation is unique under contention", func(t *testing.T) {
		var mu sync.Mutex
		seen := map[string]bool{}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Go(func() {
				for k := 0; k < 5; k++ {
					macs, err := master.AllocMACs(ctx(t), m.Client(), "aa:00:00", 2)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, mac := range macs {
						if seen[mac] {
							t.Errorf("MAC %s given twice", mac)
						}
						seen[mac] = true
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 80 {
			t.Fatalf("%d MACs", len(seen))
		}
	})

	t.Run("node tokens rotate with the credentials", func(t *testing.T) {
		check := func(tok string) error {
			p, err := m.Verifier().Verify(tok, time.Now())
			if err != nil {
				return err
			}
			if p.Role != api.RoleNode || p.User != "node.node1" {
				t.Fatalf("principal %+v", p)
			}
			return m.CheckNodeToken(ctx(t), p)
		}
		c1, err := m.NodeCredentials(ctx(t), "node1")
		if err != nil || c1.APIToken == "" {
			t.Fatalf("credentials: %v", err)
		}
		if err := check(c1.APIToken); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
		c2, err := m.NodeCredentials(ctx(t), "node1")
		if err != nil {
			t.Fatal(err)
		}
		if err := check(c2.APIToken); err != nil {
			t.Fatalf("new token refused: %v", err)
		}
		if err := check(c1.APIToken); api.CodeOf(err) != api.CodeUnauthorized {
			t.Fatalf("rotated-out token: %v", err)
		}
		// A user token is not a node token.
		admin, _ := c.AdminToken()
		p, _ := m.Verifier().Verify(admin, time.Now())
		if err := m.CheckNodeToken(ctx(t), p); api.CodeOf(err) != api.CodeUnauthorized {
			t.Fatalf("admin token as node token: %v", err)
		}
	})

	t.Run("templates", func(t *testing.T) {
		ts, err := m.ListTemplates(ctx(t))
		if err != nil || len(ts) != 1 || ts[0].Name != "tiny" || ts[0].Version != 1 || !strings.HasPrefix(ts[0].Digest, "sha256:") {
			t.Fatalf("list %+v %v", ts, err)
		}
		rc, size, err := m.OpenTemplateBlob(ctx(t), ts[0].Digest)
		if err != nil || size != ts[0].Size {
			t.Fatalf("open blob: %v size %d", err, size)
		}
		rc.Close()
		// In use by auto1: refused.
		_, err = m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpTemplateRemove, api.TemplateRemove{Name: "tiny"})}})
		if api.CodeOf(err) != api.CodeWrongState {
			t.Fatalf("remove of a used template: %v", err)
		}
		if _, err := m.ImportTemplate(ctx(t), mastertest.Admin, "junk", strings.NewReader("not a tarball")); api.CodeOf(err) != api.CodeWrongInput {
			t.Fatalf("import junk: %v", err)
		}
		t2, err := m.ImportTemplate(ctx(t), mastertest.Admin, "tiny", bytes.NewReader(tinyRootfs(t)))
		if err != nil || t2.Version != 2 {
			t.Fatalf("second import: %+v %v", t2, err)
		}
		if j := e.run(t, api.OpTemplateRemove, api.TemplateRemove{Name: "tiny", Version: 2}); j.State != api.JobSuccess {
			t.Fatalf("remove tiny@2: %+v", j.Error)
		}
		if _, err := m.GetTemplate(ctx(t), "tiny@2"); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("tiny@2 after remove: %v", err)
		}
	})
}
