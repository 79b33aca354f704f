package master_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/nodeagent/hv"
)

// TestCancelRunningAdd: `job cancel` of an instance add whose create is
// running on the real agent (fake hypervisor): the job stops after the
// create, the create's undo removes the domain and disks from the node, the
// reserve's undo deletes the record, the job ends canceled, and the name
// can be used again.
func TestCancelRunningAdd(t *testing.T) {
	e := startAgentEnv(t, mastertest.Options{})
	reached, release := e.a.Driver.Hold("define", "c1")
	defer release()
	id := mastertest.Submit(t, e.m, 0, mastertest.Op(t, api.OpInstanceAdd, fileAdd("c1")))
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		t.Fatal("add did not reach the define")
	}
	if err := e.m.CancelJob(ctx(t), id); err != nil {
		t.Fatalf("cancel of the running add: %v", err)
	}
	release()
	j := mastertest.WaitJob(t, e.m, id, 60*time.Second)
	if j.State != api.JobCanceled {
		t.Fatalf("add after cancel: %s %+v", j.State, j.Error)
	}
	var log []string
	for _, l := range j.Log {
		log = append(log, l.Message)
	}
	if s := strings.Join(log, "\n"); !strings.Contains(s, "instance c1 removed from node node1") || !strings.Contains(s, "record of c1 deleted") {
		t.Errorf("job log:\n%s", s)
	}
	if _, err := e.m.GetInstance(ctx(t), "c1"); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Fatalf("instance after the canceled add: %v", err)
	}
	if _, err := e.drv.State(ctx(t), "c1"); !errors.Is(err, hv.ErrNotFound) {
		t.Fatalf("domain c1 after the canceled add: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.a.Storage, "instances", "c1")); !os.IsNotExist(err) {
		t.Fatalf("files of c1 after the canceled add: %v", err)
	}
	if j := e.run(t, api.OpInstanceAdd, fileAdd("c1")); j.State != api.JobSuccess {
		t.Fatalf("add c1 again: %+v", j.Error)
	}
	if _, err := os.Stat(filepath.Join(e.a.Storage, "instances", "c1")); err != nil {
		t.Fatalf("files of the new c1 (the path checked above): %v", err)
	}
}
