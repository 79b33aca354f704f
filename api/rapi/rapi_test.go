package rapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/drover-project/drover/api"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseCreate(t *testing.T) {
	add, err := parseCreate(decode(t, `{"__version__":1,"mode":"create","name":"web1","disk_template":"file",
		"disks":[{"size":1024}],"nics":[{"link":"br0","mode":"bridged"}],"os":"tiny","pnode":"node1",
		"beparams":{"maxmem":512,"minmem":512,"vcpus":2},"ip_check":false,"start":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if add.Name != "web1" || add.DiskTemplate != "file" || len(add.Disks) != 1 || add.Disks[0].SizeMiB != 1024 ||
		add.NICs[0].Link != "br0" || add.OS != "tiny" || add.Node != "node1" || add.MemoryMiB != 512 || add.VCPUs != 2 || !add.NoStart {
		t.Fatalf("parsed %+v", add)
	}
	def, err := parseCreate(decode(t, `{"__version__":1,"mode":"create","name":"a","disk_template":"diskless","disks":[],"nics":[],"os":"tiny"}`))
	if err != nil || def.MemoryMiB != defaultMemoryMiB || def.VCPUs != defaultVCPUs {
		t.Fatalf("defaults: %+v %v", def, err)
	}
	mirror, err := parseCreate(decode(t, `{"__version__":1,"name":"m","disk_template":"drbd","pnode":"node1","snode":"node2",
		"disks":[{"size":64}],"os":"tiny","no_install":true,"wait_for_sync":false}`))
	if err != nil || mirror.SecondaryNode != "node2" || !mirror.NoInstall || !mirror.NoWaitForSync || mirror.Validate() != nil {
		t.Fatalf("drbd create: %+v %v (validate %v)", mirror, err, mirror.Validate())
	}
	for _, bad := range []string{
		`{"mode":"create","name":"a"}`, // version 0
		`{"__version__":2,"name":"a"}`,
		`{"__version__":1,"mode":"import","name":"a"}`,
		`{"__version__":1,"name":"a","beparams":{"maxmem":512,"minmem":256}}`,
		`{"__version__":1,"name":"a","snode":2}`,
		`{"__version__":1,"name":"a","disks":[{"size":"big"}]}`,
		`{"__version__":1,"name":"a","frobnicate":1}`,
		`{"__version__":1,"name":"a","nics":[{"mode":"routed"}]}`,
	} {
		if _, err := parseCreate(decode(t, bad)); api.CodeOf(err) != api.CodeWrongInput {
			t.Errorf("%s: got %v, want wrong_input", bad, err)
		}
	}
}

func TestMatchPath(t *testing.T) {
	for _, c := range []struct {
		pattern, path string
		want          bool
	}{
		{"/2/instances/:name/startup", "/2/instances/web1/startup", true},
		{"/2/instances/:name", "/2/instances/web1/startup", false},
		{"/2/info", "/2/infos", false},
	} {
		if got := matchPath(c.pattern, c.path); got != c.want {
			t.Errorf("matchPath(%q, %q) = %v", c.pattern, c.path, got)
		}
	}
}

func TestJobFieldsOfFailedJob(t *testing.T) {
	j := &api.Job{ID: 7, State: api.JobError,
		Ops:      []api.OpCode{{Kind: api.OpInstanceStartup, Params: json.RawMessage(`{"name":"web1"}`)}},
		OpStatus: []api.OpStatus{{Kind: api.OpInstanceStartup, State: api.JobError}},
		Log:      []api.JobLogEntry{{Serial: 1, Op: -1, Message: "job submitted"}, {Serial: 2, Op: 0, Message: "failed"}},
		Error:    api.Errorf(api.CodeWrongState, "node node1 is offline"),
	}
	got := jobJSON(j, jobFields)
	b, _ := json.Marshal(got)
	for _, want := range []string{
		`"opresult":[["OpPrereqError",["node node1 is offline","wrong_state"]]]`,
		`"summary":["INSTANCE_STARTUP(web1)"]`,
		`"opstatus":["error"]`,
		`"OP_ID":"OP_INSTANCE_STARTUP"`,
		`"id":7`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("job JSON lacks %s: %s", want, b)
		}
	}
	if logs := got["oplog"].([][]any); len(logs) != 1 || len(logs[0]) != 2 {
		t.Errorf("oplog %v: want both entries under op 0", logs)
	}
}
