package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/apitest"
)

// instBackend adds an in-memory InstanceBackend to the apitest backend and
// records the jobs the routes submit.
type instBackend struct {
	*apitest.Backend
	mu        sync.Mutex
	subs      []api.JobSubmit
	insts     []api.Instance
	blob      []byte
	imported  int64
	nodeCheck error
}

func (b *instBackend) SubmitJob(_ context.Context, _ api.Principal, sub api.JobSubmit) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, sub)
	return uint64(len(b.subs)), nil
}

func (b *instBackend) lastOp(t *testing.T) (string, map[string]any) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) == 0 {
		t.Fatal("no job submitted")
	}
	op := b.subs[len(b.subs)-1].Ops[0]
	var p map[string]any
	if err := json.Unmarshal(op.Params, &p); err != nil {
		t.Fatal(err)
	}
	return op.Kind, p
}

func (b *instBackend) nsubs() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func (b *instBackend) ListInstances(context.Context) ([]api.Instance, error) { return b.insts, nil }
func (b *instBackend) GetInstance(_ context.Context, name string) (*api.Instance, error) {
	for _, in := range b.insts {
		if in.Name == name {
			return &in, nil
		}
	}
	return nil, api.Errorf(api.CodeUnknownEntity, "instance %q not found", name)
}
func (b *instBackend) InstanceConsole(_ context.Context, name string, n int) (*api.InstanceConsole, error) {
	return &api.InstanceConsole{Instance: name, Node: "node1", Output: strings.Repeat("x", min(n, 10))}, nil
}
func (b *instBackend) ListTemplates(context.Context) ([]api.Template, error) { return nil, nil }
func (b *instBackend) GetTemplate(_ context.Context, ref string) (*api.Template, error) {
	return &api.Template{Name: ref, Version: 1}, nil
}
func (b *instBackend) ImportTemplate(_ context.Context, _ api.Principal, name string, r io.Reader) (*api.Template, error) {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.imported = n
	b.mu.Unlock()
	return &api.Template{Name: name, Version: 1, Size: n}, nil
}
func (b *instBackend) OpenTemplateBlob(_ context.Context, digest string) (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader(b.blob)), int64(len(b.blob)), nil
}
func (b *instBackend) CheckNodeToken(ctx context.Context, p api.Principal) error {
	if b.nodeCheck != nil {
		return b.nodeCheck
	}
	return b.CheckToken(ctx, p)
}

func newInstFixture(t testing.TB) (*fixture, *instBackend) {
	t.Helper()
	b, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ib := &instBackend{Backend: b, blob: []byte("artifact"), insts: []api.Instance{
		{Name: "web1", Status: api.InstRunning, PrimaryNode: "node1", VCPUs: 1},
		{Name: "db1", Status: api.InstAdminDown, PrimaryNode: "node2", VCPUs: 2},
	}}
	return newFixtureWith(t, b, ib), ib
}

func TestInstanceRoutesSubmit(t *testing.T) {
	f, ib := newInstFixture(t)
	add := `{"name":"web2","disk_template":"file","os":"tiny@2","node":"node1","disks":[{"size_mib":64}],"vcpus":1,"memory_mib":256}`
	for _, tc := range []struct {
		method, path, body string
		kind               string
		check              func(map[string]any) bool
	}{
		{"POST", "/api/v1/instances", add, api.OpInstanceAdd, func(p map[string]any) bool { return p["name"] == "web2" && p["os"] == "tiny@2" }},
		{"DELETE", "/api/v1/instances/web1", "", api.OpInstanceRemove, func(p map[string]any) bool { return p["name"] == "web1" }},
		{"POST", "/api/v1/instances/web1/startup", "", api.OpInstanceStartup, func(p map[string]any) bool { return p["name"] == "web1" && p["auto"] == nil }},
		{"POST", "/api/v1/instances/web1/shutdown", `{"timeout":"5s"}`, api.OpInstanceShutdown, func(p map[string]any) bool { return p["timeout"] == "5s" }},
		{"POST", "/api/v1/instances/web1/shutdown", "", api.OpInstanceShutdown, func(p map[string]any) bool { return p["name"] == "web1" }},
		{"POST", "/api/v1/instances/web1/reboot", "", api.OpInstanceReboot, func(p map[string]any) bool { return p["name"] == "web1" }},
		{"POST", "/api/v1/instances/web1/reinstall", `{"os":"other"}`, api.OpInstanceReinstall, func(p map[string]any) bool { return p["os"] == "other" }},
		{"POST", "/api/v1/instances/web1/rename", `{"new_name":"web3"}`, api.OpInstanceRename, func(p map[string]any) bool { return p["new_name"] == "web3" }},
		{"POST", "/api/v1/instances/web1/grow-disk", `{"disk":0,"amount_mib":1024}`, api.OpInstanceGrowDisk, func(p map[string]any) bool { return p["amount_mib"] == 1024.0 }},
		{"PATCH", "/api/v1/instances/web1", `{"memory_mib":1024}`, api.OpInstanceModify, func(p map[string]any) bool { return p["memory_mib"] == 1024.0 && p["vcpus"] == nil }},
		{"POST", "/api/v1/templates", `{"name":"bookworm","include":["openssh-server"]}`, api.OpTemplateBuild, func(p map[string]any) bool { return p["name"] == "bookworm" }},
		{"DELETE", "/api/v1/templates/bookworm@3", "", api.OpTemplateRemove, func(p map[string]any) bool { return p["name"] == "bookworm" && p["version"] == 3.0 }},
		{"DELETE", "/api/v1/templates/bookworm", "", api.OpTemplateRemove, func(p map[string]any) bool { return p["version"] == nil }},
	} {
		rec := f.doString(tc.method, tc.path, f.operate, tc.body)
		if rec.Code != http.StatusAccepted || !strings.HasPrefix(rec.Header().Get("Location"), "/api/v1/jobs/") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
			continue
		}
		kind, p := ib.lastOp(t)
		if kind != tc.kind || !tc.check(p) {
			t.Errorf("%s %s: submitted %s %v", tc.method, tc.path, kind, p)
		}
	}
	n := ib.nsubs()
	for _, tc := range []struct {
		method, path, body, token string
		status                    int
		code                      api.Code
	}{
		{"POST", "/api/v1/instances", strings.Replace(add, `"file"`, `"drbd"`, 1), "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/instances", strings.Replace(add, `"vcpus":1`, `"vcpus":0`, 1), "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/instances", strings.Replace(add, `"web2"`, `"Web_2"`, 1), "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/instances", `{"name":"x","bogus":1}`, "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/instances/web1/rename", "", "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/instances/web1/rename", `{"new_name":"web1"}`, "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/instances/web1/shutdown", `{"timeout":"forever"}`, "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/instances/web1/grow-disk", `{"disk":0,"amount_mib":0}`, "", 400, api.CodeWrongInput},
		{"PATCH", "/api/v1/instances/web1", `{}`, "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/instances/web1/startup", `{"auto":true}`, "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/templates", `{"name":"Bad Name"}`, "", 400, api.CodeWrongInput},
		{"POST", "/api/v1/instances", add, "reader", 403, api.CodeForbidden},
		{"DELETE", "/api/v1/instances/web1", "", "reader", 403, api.CodeForbidden},
		{"GET", "/api/v1/instances/web1/console", "", "reader", 403, api.CodeForbidden},
	} {
		tok := f.operate
		if tc.token == "reader" {
			tok = f.reader
		}
		rec := f.doString(tc.method, tc.path, tok, tc.body)
		if rec.Code != tc.status {
			t.Errorf("%s %s %s: %d, want %d: %s", tc.method, tc.path, tc.body, rec.Code, tc.status, rec.Body)
			continue
		}
		if e := errorOf(t, rec); e.Code != tc.code {
			t.Errorf("%s %s: code %s, want %s", tc.method, tc.path, e.Code, tc.code)
		}
	}
	if ib.nsubs() != n {
		t.Errorf("refused requests submitted jobs")
	}
}

func TestInstanceRoutesRead(t *testing.T) {
	f, _ := newInstFixture(t)
	rec := f.doString("GET", "/api/v1/instances?fields=name,vcpus&status=ADMIN_down", f.reader, "")
	var sel []map[string]any
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &sel) != nil || len(sel) != 1 || sel[0]["name"] != "db1" || sel[0]["vcpus"] != 2.0 || len(sel[0]) != 2 {
		t.Fatalf("list with fields and filter: %d %s", rec.Code, rec.Body)
	}
	rec = f.doString("GET", "/api/v1/instances?primary_node=node1,node9", f.reader, "")
	var all []api.Instance
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &all) != nil || len(all) != 1 || all[0].Name != "web1" {
		t.Fatalf("list by node: %d %s", rec.Code, rec.Body)
	}
	for _, q := range []string{"fields=bogus", "disks=1", "bogus=1"} {
		if rec := f.doString("GET", "/api/v1/instances?"+q, f.reader, ""); rec.Code != 400 {
			t.Errorf("?%s: %d", q, rec.Code)
		}
	}
	if rec := f.doString("GET", "/api/v1/instances/nope", f.reader, ""); rec.Code != 404 {
		t.Errorf("unknown instance: %d", rec.Code)
	}
	rec = f.doString("GET", "/api/v1/instances/web1/console?bytes=4", f.operate, "")
	var con api.InstanceConsole
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &con) != nil || con.Output != "xxxx" {
		t.Fatalf("console: %d %s", rec.Code, rec.Body)
	}
	if rec := f.doString("GET", "/api/v1/instances/web1/console?bytes=0", f.operate, ""); rec.Code != 400 {
		t.Errorf("console bytes=0: %d", rec.Code)
	}
}

func TestTemplateBlobAndImportRoutes(t *testing.T) {
	f, ib := newInstFixture(t)
	node, err := f.b.Token("node.node1", api.RoleNode, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tok := range []string{node, f.reader} {
		rec := f.doString("GET", "/api/v1/templates/blobs/"+digest, tok, "")
		if rec.Code != 200 || rec.Body.String() != "artifact" || rec.Header().Get("X-Drover-Sha256") != strings.Repeat("ab", 32) {
			t.Fatalf("blob: %d %s", rec.Code, rec.Body)
		}
	}
	// A node token opens nothing else.
	if rec := f.doString("GET", "/api/v1/instances", node, ""); rec.Code != 403 {
		t.Errorf("node token on /instances: %d", rec.Code)
	}
	if rec := f.doString("GET", "/api/v1/templates/blobs/"+digest, "", ""); rec.Code != 401 {
		t.Errorf("blob without token: %d", rec.Code)
	}
	if rec := f.doString("GET", "/api/v1/templates/blobs/sha256:xyz", node, ""); rec.Code != 400 {
		t.Errorf("bad digest: %d", rec.Code)
	}
	ib.nodeCheck = api.Errorf(api.CodeUnauthorized, "token revoked or user removed")
	if rec := f.doString("GET", "/api/v1/templates/blobs/"+digest, node, ""); rec.Code != 401 {
		t.Errorf("revoked node token: %d", rec.Code)
	}
	// The import route takes bodies beyond MaxBodyBytes; others do not.
	big := bytes.Repeat([]byte("t"), 3*api.MaxBodyBytes)
	req := func(path string) *http.Request {
		r, _ := http.NewRequest("POST", path, bytes.NewReader(big))
		r.Header.Set("Authorization", "Bearer "+f.operate)
		return r
	}
	rec := serve(f.h, req("/api/v1/templates/tiny/import"))
	if rec.Code != 201 || ib.imported != int64(len(big)) {
		t.Fatalf("import of %d bytes: %d %s (read %d)", len(big), rec.Code, rec.Body, ib.imported)
	}
	if rec := serve(f.h, req("/api/v1/instances")); rec.Code != 413 {
		t.Fatalf("big body elsewhere: %d", rec.Code)
	}
	if rec := f.doString("POST", "/api/v1/templates/Bad/import", f.operate, "x"); rec.Code != 400 {
		t.Errorf("bad template name: %d", rec.Code)
	}
	if rec := f.doString("POST", "/api/v1/templates/tiny/import", f.reader, "x"); rec.Code != 403 {
		t.Errorf("import as reader: %d", rec.Code)
	}
}
