package master_test

// Master tests that drive the real node agent (package nodeagent, in
// process) with the fake hypervisor: commands go through etcd to the agent,
// which runs them on the driver and publishes the domain states.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/master/mastertest/agenttest"
	"github.com/drover-project/drover/nodeagent"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// agentEnv is one master (with its API, for template downloads) and the
// real agent of node1 on a fake hypervisor.
type agentEnv struct {
	c   *mastertest.Cluster
	m   *master.Master
	a   *agenttest.Agent
	drv *fake.Driver
}

func startAgentEnv(t *testing.T, opts mastertest.Options) *agentEnv {
	t.Helper()
	return startAgentEnvWith(t, opts, nil)
}

func startAgentEnvWith(t *testing.T, opts mastertest.Options, change func(*mastertest.Cluster, *nodeagent.Config)) *agentEnv {
	t.Helper()
	opts.API = true
	c := mastertest.Start(t, opts)
	l := c.WaitLeader(30 * time.Second)
	m := c.Masters[l].M
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	var ch func(*nodeagent.Config)
	if change != nil {
		ch = func(cfg *nodeagent.Config) { change(c, cfg) }
	}
	a := agenttest.StartWith(t, m, "node1", drv, ch)
	if _, err := m.ImportTemplate(ctx(t), mastertest.Admin, "tiny", bytes.NewReader(tinyRootfs(t))); err != nil {
		t.Fatalf("import template: %v", err)
	}
	return &agentEnv{c: c, m: m, a: a, drv: drv}
}

func (e *agentEnv) run(t *testing.T, kind string, params any) *api.Job {
	t.Helper()
	id := mastertest.Submit(t, e.m, 0, mastertest.Op(t, kind, params))
	return mastertest.WaitJob(t, e.m, id, 60*time.Second)
}

func fileAdd(name string) api.InstanceAdd {
	return api.InstanceAdd{Name: name, DiskTemplate: "file", Disks: []api.InstanceDisk{{SizeMiB: 64}},
		OS: "tiny", Node: "node1", VCPUs: 1, MemoryMiB: 128}
}

func (e *agentEnv) domainUUID(t *testing.T, name string) string {
	t.Helper()
	doms, err := e.drv.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range doms {
		if d.Name == name {
			return d.UUID
		}
	}
	return ""
}

func (e *agentEnv) waitOnline(t *testing.T) {
	t.Helper()
	mastertest.WaitFor(t, 30*time.Second, "node1 online", func() bool {
		n, err := e.c.Any(-1).GetNode(ctx(t), "node1")
		return err == nil && n.Status == api.NodeOnline
	})
}

func (e *agentEnv) waitStatus(t *testing.T, name, want string, timeout time.Duration) {
	t.Helper()
	mastertest.WaitFor(t, timeout, "instance "+name+" "+want, func() bool {
		in, err := e.m.GetInstance(ctx(t), name)
		return err == nil && in.Status == want
	})
}

func TestInstancesWithRealAgent(t *testing.T) {
	e := startAgentEnv(t, mastertest.Options{Masters: 1})
	m := e.m

	t.Run("add runs each command once", func(t *testing.T) {
		j := e.run(t, api.OpInstanceAdd, fileAdd("web1"))
		if j.State != api.JobSuccess {
			t.Fatalf("add: %+v", j.Error)
		}
		in, err := m.GetInstance(ctx(t), "web1")
		if err != nil || in.Status != api.InstRunning {
			t.Fatalf("web1: %+v %v", in, err)
		}
		if d, s := e.a.Driver.Calls("define", "web1"), e.a.Driver.Calls("start", "web1"); d != 1 || s != 1 {
			t.Fatalf("define %d times, start %d times; want 1 and 1", d, s)
		}
		if got := e.domainUUID(t, "web1"); got != in.UUID {
			t.Fatalf("domain uuid %q, record %q", got, in.UUID)
		}
		// The leader deletes each command once it has its answer.
		resp, err := m.Client().Get(ctx(t), keys.NodeCmdPrefix("node1"), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || resp.Count != 0 {
			t.Fatalf("commands left: %v %v", resp, err)
		}
	})

	t.Run("a lost domain is defined again and started", func(t *testing.T) {
		disk := filepath.Join(e.a.Storage, "instances", "web1", "disk0.img")
		before, err := os.Stat(disk)
		if err != nil {
			t.Fatal(err)
		}
		// The hypervisor forgets the domain (no persistent state, or an
		// undefine by hand); the disks stay.
		if err := e.drv.Destroy(ctx(t), "web1"); err != nil {
			t.Fatal(err)
		}
		if err := e.drv.Undefine(ctx(t), "web1"); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(t, "web1", api.InstErrorDown, 10*time.Second)
		// The watcher restarts it (grace 5 s): start defines it from the record.
		e.waitStatus(t, "web1", api.InstRunning, 40*time.Second)
		in, _ := m.GetInstance(ctx(t), "web1")
		if got := e.domainUUID(t, "web1"); got != in.UUID {
			t.Fatalf("redefined domain uuid %q, record %q", got, in.UUID)
		}
		after, err := os.Stat(disk)
		if err != nil || !os.SameFile(before, after) {
			t.Fatalf("the disk was replaced: %v", err)
		}
		if before.Sys().(*syscall.Stat_t).Ino != after.Sys().(*syscall.Stat_t).Ino {
			t.Fatal("disk inode changed")
		}
		if in.GaveUp || in.Restarts != 1 {
			t.Fatalf("restarts %d gave up %v, want 1 and false", in.Restarts, in.GaveUp)
		}
	})

	t.Run("node remove is refused while instances use the node", func(t *testing.T) {
		for _, n := range []string{"node1"} {
			_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpNodeRemove, api.NodeRemove{Name: n})}})
			if api.CodeOf(err) != api.CodeWrongState || !strings.Contains(err.Error(), "web1") {
				t.Fatalf("remove %s with web1 on it: %v", n, err)
			}
		}
		// A secondary counts too (records of DRBD instances name one).
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "node2"}))
		if j := mastertest.WaitJob(t, m, id, 20*time.Second); j.State != api.JobSuccess {
			t.Fatalf("node add: %+v", j.Error)
		}
		raw := `{"name":"mirror1","uuid":"u-mirror1","primary_node":"node1","secondary_node":"node2","os":"tiny","disk_template":"drbd"}`
		if _, err := m.Client().Put(ctx(t), keys.InstanceKey("mirror1"), raw); err != nil {
			t.Fatal(err)
		}
		_, err := m.SubmitJob(ctx(t), mastertest.Admin, api.JobSubmit{Ops: []api.OpCode{mastertest.Op(t, api.OpNodeRemove, api.NodeRemove{Name: "node2"})}})
		if api.CodeOf(err) != api.CodeWrongState || !strings.Contains(err.Error(), "mirror1") {
			t.Fatalf("remove node2, secondary of mirror1: %v", err)
		}
		if _, err := m.Client().Delete(ctx(t), keys.InstanceKey("mirror1")); err != nil {
			t.Fatal(err)
		}
		if j := e.run(t, api.OpNodeRemove, api.NodeRemove{Name: "node2"}); j.State != api.JobSuccess {
			t.Fatalf("remove of an empty node: %+v", j.Error)
		}
	})

	t.Run("orphans are listed, never adopted, removed by repair", func(t *testing.T) {
		if j := e.run(t, api.OpInstanceAdd, fileAdd("lost1")); j.State != api.JobSuccess {
			t.Fatalf("add: %+v", j.Error)
		}
		old, _ := m.GetInstance(ctx(t), "lost1")
		// Its record is lost (as when a job gave up and deleted it): what
		// is on node1 is now an orphan.
		if _, err := m.Client().Delete(ctx(t), keys.InstanceKey("lost1")); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Client().Delete(ctx(t), keys.NameKey(keys.InstancesPrefix, "lost1")); err != nil {
			t.Fatal(err)
		}
		var rep *api.VerifyReport
		mastertest.WaitFor(t, 10*time.Second, "verify lists the orphan", func() bool {
			var err error
			rep, err = m.ClusterVerify(ctx(t))
			return err == nil && hasFinding(rep, "EORPHAN")
		})
		if rep.OK {
			t.Fatalf("verify with an orphan is ok: %+v", rep)
		}
		// A new instance of that name is not given the orphan's disk.
		a := fileAdd("lost1")
		a.Disks[0].SizeMiB = 80
		j := e.run(t, api.OpInstanceAdd, a)
		if j.State != api.JobError || j.Error.Code != api.CodeAlreadyExists || !strings.Contains(j.Error.Message, "orphan") {
			t.Fatalf("add over an orphan: %+v %+v", j.State, j.Error)
		}
		if got := e.domainUUID(t, "lost1"); got != old.UUID {
			t.Fatalf("the orphan's domain was touched: uuid %q, was %q", got, old.UUID)
		}
		if _, err := m.GetInstance(ctx(t), "lost1"); api.CodeOf(err) != api.CodeUnknownEntity {
			t.Fatalf("record after the refused add: %v", err)
		}
		// Dry run: listed, nothing removed.
		j = e.run(t, api.OpClusterRepair, api.ClusterRepair{DryRun: true})
		if j.State != api.JobSuccess || countLog(j, "would remove orphan lost1 on node1") != 1 || e.domainUUID(t, "lost1") == "" {
			t.Fatalf("dry run: %+v %+v", j.State, j.Log)
		}
		j = e.run(t, api.OpClusterRepair, api.ClusterRepair{})
		if j.State != api.JobSuccess || countLog(j, "orphan lost1 on node1") != 1 {
			t.Fatalf("repair: %+v %+v", j.Error, j.Log)
		}
		if e.domainUUID(t, "lost1") != "" {
			t.Fatal("orphan domain left after repair")
		}
		if _, err := os.Stat(filepath.Join(e.a.Storage, "instances", "lost1")); !os.IsNotExist(err) {
			t.Fatalf("orphan files left after repair: %v", err)
		}
		mastertest.WaitFor(t, 10*time.Second, "verify clean of orphans", func() bool {
			rep, err := m.ClusterVerify(ctx(t))
			return err == nil && !hasFinding(rep, "EORPHAN")
		})
		// Now the name is free: a fresh instance with its own disk.
		if j := e.run(t, api.OpInstanceAdd, a); j.State != api.JobSuccess {
			t.Fatalf("add after repair: %+v", j.Error)
		}
		st, err := os.Stat(filepath.Join(e.a.Storage, "instances", "lost1", "disk0.img"))
		if err != nil || st.Size() != 80<<20 {
			t.Fatalf("new disk: %v %v", st, err)
		}
		// web1 and lost1 run: verify has no instance errors, no orphans.
		rep, err = m.ClusterVerify(ctx(t))
		if err != nil || hasFinding(rep, "EORPHAN") || hasFinding(rep, "EINSTANCEERROR") || hasFinding(rep, "ETEMPLATEMISSING") {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})

	t.Run("verify reports instances in error", func(t *testing.T) {
		if j := e.run(t, api.OpInstanceShutdown, api.InstanceShutdown{Name: "lost1"}); j.State != api.JobSuccess {
			t.Fatalf("shutdown: %+v", j.Error)
		}
		// Started behind the master's back: ERROR_up.
		if err := e.drv.Start(ctx(t), "lost1"); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(t, "lost1", api.InstErrorUp, 10*time.Second)
		rep, err := m.ClusterVerify(ctx(t))
		if err != nil || rep.OK || !hasFinding(rep, "EINSTANCEERROR") {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})
}

// TestAddWhoseAgentWentAway: the agent stops in the middle of an add (in
// its create, or in its start after the create was done); the job ends in
// error and deletes the record. The agent that comes back does not run the
// create again and removes what the create made: nothing is left for a new
// instance of that name to adopt.
func TestAddWhoseAgentWentAway(t *testing.T) {
	e := startAgentEnv(t, mastertest.Options{Masters: 1})
	for _, op := range []string{"define", "start"} {
		t.Run("in "+op, func(t *testing.T) {
			name := "gone" + op
			reached, release := e.a.Driver.Hold(op, name)
			defer release()
			id := mastertest.Submit(t, e.m, 0, mastertest.Op(t, api.OpInstanceAdd, fileAdd(name)))
			select {
			case <-reached:
			case <-time.After(60 * time.Second):
				t.Fatalf("add did not reach %s", op)
			}
			e.a.Stop() // the held call ends with the agent's context
			j := mastertest.WaitJob(t, e.m, id, 60*time.Second)
			if j.State != api.JobError || !strings.Contains(j.Error.Message, "removes it when it is back") {
				t.Fatalf("add with its agent gone: %s %+v", j.State, j.Error)
			}
			if _, err := e.m.GetInstance(ctx(t), name); api.CodeOf(err) != api.CodeUnknownEntity {
				t.Fatalf("record of the failed add: %v", err)
			}
			release()
			defines := e.a.Driver.Calls("define", name)
			e.a.Start()
			e.waitOnline(t)
			mastertest.WaitFor(t, 30*time.Second, name+" undone on node1", func() bool {
				_, err := os.Stat(filepath.Join(e.a.Storage, "instances", name))
				return os.IsNotExist(err) && e.domainUUID(t, name) == ""
			})
			if d := e.a.Driver.Calls("define", name); d != defines {
				t.Fatalf("the create was run again after the agent came back (%d defines, %d before)", d, defines)
			}
			// A new add of that name makes its own instance.
			a := fileAdd(name)
			a.Disks[0].SizeMiB = 72
			if j := e.run(t, api.OpInstanceAdd, a); j.State != api.JobSuccess {
				t.Fatalf("add again: %+v", j.Error)
			}
			in, _ := e.m.GetInstance(ctx(t), name)
			if got := e.domainUUID(t, name); got != in.UUID {
				t.Fatalf("domain uuid %q, record %q", got, in.UUID)
			}
			st, err := os.Stat(filepath.Join(e.a.Storage, "instances", name, "disk0.img"))
			if err != nil || st.Size() != 72<<20 {
				t.Fatalf("disk of the new %s: %v %v", name, st, err)
			}
			// The undo left for the agent was answered and swept.
			mastertest.WaitFor(t, 20*time.Second, "no commands left", func() bool {
				resp, err := e.m.Client().Get(ctx(t), keys.NodeCmdPrefix("node1"), clientv3.WithPrefix(), clientv3.WithCountOnly())
				return err == nil && resp.Count == 0
			})
		})
	}
}

// TestLeaderKilledAtEveryAddStep kills the leader once in every step of
// instance add; the next leader finishes each job, and the agent has
// defined and started each instance exactly once (counted on the driver).
// In the create and start steps the kill comes while the agent runs the old
// leader's command (its Define or Start is held), and the new leader writes
// the same command again before the agent is let go: the agent answers both
// from one run. The reserve and commit steps write only etcd; the kill comes
// as soon as the job reaches them (a fast job may finish first: the test
// logs it).
func TestLeaderKilledAtEveryAddStep(t *testing.T) {
	// The agent talks to the etcd member of master 2 only, master 2 is
	// never the one killed, and its lease has a long TTL: how an agent's
	// lease survives the loss of a member (or an etcd leader change) is the
	// lease's business (nodeagent/lease.go, its own tests), not this test's;
	// a self-fence here would destroy the domains and blur the counts.
	const keep = 2
	e := startAgentEnvWith(t, mastertest.Options{Masters: 3}, func(c *mastertest.Cluster, cfg *nodeagent.Config) {
		cfg.Credentials.EtcdEndpoints = c.Masters[keep].M.Client().Endpoints()
		cfg.LeaseTTL = 30 * time.Second
	})
	leader := func() int {
		l := e.c.WaitLeader(30 * time.Second)
		if l == keep {
			e.c.Masters[l].M.StepDown()
			l = e.c.WaitLeaderOther(keep, 30*time.Second)
		}
		return l
	}
	for _, op := range []string{"define", "start"} {
		t.Run("during the agent's "+op, func(t *testing.T) {
			name := "k" + op
			reached, release := e.a.Driver.Hold(op, name)
			defer release()
			l := leader()
			id := mastertest.Submit(t, e.c.Masters[l].M, 0, mastertest.Op(t, api.OpInstanceAdd, fileAdd(name)))
			select {
			case <-reached:
			case <-time.After(60 * time.Second):
				t.Fatalf("add did not reach %s", op)
			}
			kind := map[string]string{"define": keys.CmdInstanceCreate, "start": keys.CmdInstanceStart}[op]
			rewritten := make(chan string, 1)
			go func() {
				rewritten <- e.waitCommandRewritten(id, name, kind)
				release()
			}()
			j := e.killLeaderAndFinish(t, l, id, name)
			if why := <-rewritten; why != "" {
				t.Fatalf("the %s command of %s was not written again by the new leader: %s", kind, name, why)
			}
			if j.Runs < 2 {
				t.Fatalf("job %d ran %d times, want 2", id, j.Runs)
			}
		})
	}
	for k, step := range []string{"reserve", "commit"} {
		t.Run("at "+step, func(t *testing.T) {
			name := "k" + step
			l := leader()
			m := e.c.Masters[l].M
			id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceAdd, fileAdd(name)))
			mastertest.WaitJobState(t, m, id, 60*time.Second, func(j *api.Job) bool {
				return len(j.OpStatus) == 1 && j.OpStatus[0].StepsDone >= 3*k || j.State.Finished()
			})
			if j := e.killLeaderAndFinish(t, l, id, name); j.Runs < 2 {
				t.Logf("job %d finished before the kill", id)
			}
		})
	}
}

// killLeaderAndFinish kills master l, restarts it, and checks that job id
// succeeded on another leader with every agent action done once.
func (e *agentEnv) killLeaderAndFinish(t *testing.T, l int, id uint64, name string) *api.Job {
	t.Helper()
	e.c.Kill(l)
	nl := e.c.WaitLeaderOther(l, 30*time.Second)
	m := e.c.Masters[nl].M
	j := mastertest.WaitJob(t, m, id, 90*time.Second)
	e.c.Restart(l)
	if j.State != api.JobSuccess {
		t.Fatalf("job %d: %s %+v\n%+v", id, j.State, j.Error, j.Log)
	}
	in, err := m.GetInstance(ctx(t), name)
	if err != nil || in.Status != api.InstRunning {
		st, _ := e.drv.State(ctx(t), name)
		t.Fatalf("%s: %+v %v; driver: state %q, calls define %d start %d destroy %d undefine %d",
			name, in, err, st, e.a.Driver.Calls("define", name), e.a.Driver.Calls("start", name),
			e.a.Driver.Calls("destroy", name), e.a.Driver.Calls("undefine", name))
	}
	if d, s := e.a.Driver.Calls("define", name), e.a.Driver.Calls("start", name); d != 1 || s != 1 {
		t.Fatalf("%s: define %d times, start %d times; want 1 and 1 (job log %+v)", name, d, s, j.Log)
	}
	if n := e.a.Driver.Calls("destroy", name); n != 0 {
		t.Fatalf("%s destroyed %d times (a self-fence?)", name, n)
	}
	for _, msg := range []string{"reserved on node", "created on node1", "started", "added"} {
		if n := countLog(j, "instance "+name+" "+msg); n != 1 {
			t.Fatalf("%q logged %d times: %+v", msg, n, j.Log)
		}
	}
	return j
}

// waitCommandRewritten waits until job id runs on a new leader (runs 2) and
// that leader has written the command of kind for instance name again with
// its epoch; it returns "" then, or what it saw.
func (e *agentEnv) waitCommandRewritten(id uint64, name, kind string) string {
	deadline := time.Now().Add(60 * time.Second)
	var epoch int64
	seen := map[int64]bool{}
	for time.Now().Before(deadline) {
		for _, in := range e.c.Masters {
			if !in.Running() {
				continue
			}
			cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if epoch == 0 {
				if j, err := in.M.GetJob(cctx, id); err == nil && j.Runs >= 2 {
					epoch = j.Epoch
				}
			}
			resp, err := in.M.Client().Get(cctx, keys.NodeCmdPrefix("node1"), clientv3.WithPrefix())
			cancel()
			if err != nil {
				continue
			}
			for _, kv := range resp.Kvs {
				var c keys.NodeCommand
				if json.Unmarshal(kv.Value, &c) == nil && c.Instance.Name == name && c.Kind == kind {
					seen[c.Epoch] = true
					if epoch != 0 && c.Epoch == epoch {
						return ""
					}
				}
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Sprintf("job's new epoch %d; command epochs seen %v", epoch, seen)
}

// TestTemplateOnEveryMaster: a template imported on one master is copied to
// every master; with the importing master stopped, an add still gets it
// (the agent fetches from another master); a master whose copy is lost
// repairs it when it comes back.
func TestTemplateOnEveryMaster(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{Masters: 3, API: true})
	c.WaitHealthy(60 * time.Second)
	imp := 0
	if _, err := c.Masters[imp].M.ImportTemplate(ctx(t), mastertest.Admin, "tiny", bytes.NewReader(tinyRootfs(t))); err != nil {
		t.Fatalf("import on %s: %v", c.Masters[imp].Name, err)
	}
	waitAllHold := func(m *master.Master, want int) {
		t.Helper()
		mastertest.WaitFor(t, 60*time.Second, "every running master holds the template", func() bool {
			rep, err := m.ClusterVerify(ctx(t))
			if err != nil || hasFinding(rep, "ETEMPLATEMISSING") {
				return false
			}
			resp, err := m.Client().Get(ctx(t), keys.TemplateBlobsPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			return err == nil && resp.Count == int64(want)
		})
	}
	waitAllHold(c.Masters[1].M, 3)

	// The importing master goes away.
	c.Stop(imp)
	l := c.WaitLeaderOther(imp, 30*time.Second)
	m := c.Masters[l].M
	waitAllHold(m, 2)
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	a := agenttest.Start(t, m, "node1", drv)
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpInstanceAdd, fileAdd("web1")))
	if j := mastertest.WaitJob(t, m, id, 60*time.Second); j.State != api.JobSuccess {
		t.Fatalf("add with the importing master down: %+v", j.Error)
	}
	if a.Driver.Calls("define", "web1") != 1 {
		t.Fatal("web1 not defined once")
	}

	// A master that lost its copy while down gets it again when it is back.
	if err := os.RemoveAll(filepath.Join(c.Dir, "templates", c.Masters[imp].Name)); err != nil {
		t.Fatal(err)
	}
	c.Restart(imp)
	waitAllHold(m, 3)
	rc, _, err := c.Masters[imp].M.OpenTemplateBlob(ctx(t), mustTemplate(t, m).Digest)
	if err != nil {
		t.Fatalf("blob on the master that came back: %v", err)
	}
	rc.Close()
}

func mustTemplate(t *testing.T, m *master.Master) *api.Template {
	t.Helper()
	tp, err := m.GetTemplate(ctx(t), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	return tp
}
