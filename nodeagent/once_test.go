package nodeagent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// TestOrphanNotAdopted: a domain of the instance's name with another UUID
// (an orphan) is not taken over by a create, not started, and not removed
// by the remove of another UUID; the remove naming its UUID removes it.
func TestOrphanNotAdopted(t *testing.T) {
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	h := startHarness(t, drv, harnessOpts{})
	old := instance("web9", hv.KindFake)
	h.run(keys.CmdInstanceCreate, old, nil, 30*time.Second)
	h.waitDomain("web9", keys.DomainStopped, 10*time.Second)
	if s, _ := h.domainStatus("web9"); s.UUID != old.UUID {
		t.Fatalf("published uuid %q, want %q", s.UUID, old.UUID)
	}

	nu := old
	nu.UUID = "0f5e1a52-7c0e-4d43-9d7e-5ad0c4a2a001"
	r := h.wait(h.send(keys.CmdInstanceCreate, nu, nil, nil).ID, 30*time.Second)
	if r.Error == nil || r.Error.Code != api.CodeAlreadyExists || !strings.Contains(r.Error.Message, "orphan") {
		t.Fatalf("create over an orphan: %+v", r)
	}
	r = h.wait(h.send(keys.CmdInstanceStart, nu, nil, nil).ID, 30*time.Second)
	if r.Error == nil || r.Error.Code != api.CodeAlreadyExists {
		t.Fatalf("start of another uuid's domain: %+v", r)
	}
	h.run(keys.CmdInstanceRemove, nu, nil, 30*time.Second)
	if st := h.hvState("web9"); st != hv.StateStopped {
		t.Fatalf("the remove of another uuid touched the orphan: %q", st)
	}
	h.run(keys.CmdInstanceRemove, old, nil, 30*time.Second)
	if st := h.hvState("web9"); st != "" {
		t.Fatalf("the remove of its own uuid left the domain: %q", st)
	}
}

// TestCommandOfOlderEpochRefused: a command whose epoch is older than the
// current leader's (read from the election) is refused, not run.
func TestCommandOfOlderEpochRefused(t *testing.T) {
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	h := startHarness(t, drv, harnessOpts{})
	_, epoch := h.m.Leading()
	inst := instance("old1", hv.KindFake)
	c := h.send(keys.CmdInstanceCreate, inst, nil, func(c *keys.NodeCommand) { c.Epoch = epoch - 1 })
	r := h.wait(c.ID, 30*time.Second)
	if r.Error == nil || r.Error.Code != api.CodeWrongState || !r.Refused {
		t.Fatalf("command of an older epoch: %+v", r)
	}
	if st := h.hvState("old1"); st != "" {
		t.Fatalf("the refused create ran: %q", st)
	}
	// The current leader's epoch writing the same command again is run.
	c.Epoch = epoch
	h.put(c)
	h.waitFor(30*time.Second, "create of the current epoch", func() bool {
		r, ok := h.result(c.ID)
		return ok && r.Done && !r.Refused
	})
	if r, _ := h.result(c.ID); r.Error != nil {
		t.Fatalf("create of the current epoch: %v", r.Error)
	}
	if st := h.hvState("old1"); st != hv.StateStopped {
		t.Fatalf("after the create: %q", st)
	}
}
