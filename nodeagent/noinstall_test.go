package nodeagent_test

import (
	"testing"
	"time"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// TestCreateNoInstall: a create marked NoInstall (instance add
// --no-install, the define on a failed-over primary) of an instance whose
// record names a template (OS "tiny", version 1) makes the disks and the
// domain and installs nothing: the agent neither fetches the template nor
// takes the name for a Ganeti OS definition (which it did when the command
// only left the digest out: "os tiny: not found in /srv/ganeti/os...").
func TestCreateNoInstall(t *testing.T) {
	drv := fake.New(fake.Options{CPUs: 4, MemoryMiB: 4096})
	h := startHarness(t, drv, harnessOpts{})
	inst := instance("bare1", hv.KindFake)
	inst.OS, inst.OSVersion, inst.OSDigest = "tiny", 1, "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	inst.Disks = []keys.DiskSpec{{SizeMiB: 16}}
	r := h.wait(h.send(keys.CmdInstanceCreate, inst, nil, func(c *keys.NodeCommand) { c.NoInstall = true }).ID, 30*time.Second)
	if r.Error != nil {
		t.Fatalf("create --no-install of an instance made from template tiny@1: %+v", r.Error)
	}
	if st := h.hvState("bare1"); st == "" {
		t.Fatal("no domain defined after a NoInstall create")
	}
}
