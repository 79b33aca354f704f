package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/apitest"
)

// fixture is an apitest backend behind api.NewServer, driven in-process.
type fixture struct {
	b                      *apitest.Backend
	h                      http.Handler
	admin, operate, reader string
	logs                   *bytes.Buffer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	b, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return newFixtureWith(t, b, b)
}

// newFixtureWith serves backend be (which may wrap b).
func newFixtureWith(t testing.TB, b *apitest.Backend, be api.Backend) *fixture {
	t.Helper()
	logs := &bytes.Buffer{}
	f := &fixture{
		b:    b,
		h:    api.NewServer(be, b.Verifier(), slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, nil))),
		logs: logs,
	}
	var err error
	if f.admin, err = b.Token("admin", api.RoleAdmin, time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.operate, err = b.Token("op", api.RoleOperate, time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.reader, err = b.Token("reader", api.RoleRead, time.Hour); err != nil {
		t.Fatal(err)
	}
	return f
}

// do sends a request to the handler. body may be nil.
func (f *fixture) do(method, path, token string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) doString(method, path, token, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return f.do(method, path, token, r)
}

// errorOf checks that rec is a JSON ErrorBody and returns its error.
func errorOf(t testing.TB, rec *httptest.ResponseRecorder) *api.Error {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d: content type %q, body %q", rec.Code, ct, rec.Body.String())
	}
	var eb api.ErrorBody
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil || eb.Error == nil {
		t.Fatalf("status %d: not an ErrorBody: %v %q", rec.Code, err, rec.Body.String())
	}
	if eb.Error.Code == "" || eb.Error.Message == "" {
		t.Fatalf("status %d: empty code or message: %+v", rec.Code, eb.Error)
	}
	return eb.Error
}

// lockedWriter makes a bytes.Buffer safe for concurrent log writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestBadInput(t *testing.T) {
	f := newFixture(t)
	big := `{"name":"n1","tags":["` + strings.Repeat("x", api.MaxBodyBytes) + `"]}`
	tests := []struct {
		name, method, path, body string
		token                    string // "" means admin
		status                   int
		code                     api.Code
	}{
		{"malformed JSON", "POST", "/api/v1/nodes", `{"name":`, "", 400, api.CodeWrongInput},
		{"not JSON", "POST", "/api/v1/nodes", `name=n1`, "", 400, api.CodeWrongInput},
		{"empty body", "POST", "/api/v1/nodes", ``, "", 400, api.CodeWrongInput},
		{"null body", "POST", "/api/v1/nodes", `null`, "", 400, api.CodeWrongInput},
		{"array body", "POST", "/api/v1/nodes", `[]`, "", 400, api.CodeWrongInput},
		{"oversized JSON", "POST", "/api/v1/nodes", big, "", 413, api.CodeWrongInput},
		{"unknown field", "POST", "/api/v1/nodes", `{"name":"n1","bogus":1}`, "", 400, api.CodeWrongInput},
		{"unknown field case", "POST", "/api/v1/users", `{"name":"u1","role":"read","Admin":true}`, "", 400, api.CodeWrongInput},
		{"trailing data", "POST", "/api/v1/nodes", `{"name":"n1"}{"name":"n2"}`, "", 400, api.CodeWrongInput},
		{"trailing garbage", "POST", "/api/v1/nodes", `{"name":"n1"} x`, "", 400, api.CodeWrongInput},
		{"wrong type", "POST", "/api/v1/nodes", `{"name":1}`, "", 400, api.CodeWrongInput},
		{"wrong nested type", "POST", "/api/v1/nodes", `{"name":"n1","tags":"a"}`, "", 400, api.CodeWrongInput},
		{"wrong bool type", "PATCH", "/api/v1/nodes/n1", `{"drained":"yes"}`, "", 400, api.CodeWrongInput},
		{"name not hostname", "POST", "/api/v1/nodes", `{"name":"bad_name"}`, "", 400, api.CodeWrongInput},
		{"name trailing dash", "POST", "/api/v1/nodes", `{"name":"node-"}`, "", 400, api.CodeWrongInput},
		{"name too long", "POST", "/api/v1/nodes", `{"name":"` + strings.Repeat("a", 64) + `"}`, "", 400, api.CodeWrongInput},
		{"bad ip", "POST", "/api/v1/nodes", `{"name":"n1","secondary_ip":"10.0.0.300"}`, "", 400, api.CodeWrongInput},
		{"path name not hostname", "GET", "/api/v1/nodes/bad_name", ``, "", 400, api.CodeWrongInput},
		{"path name dots", "GET", "/api/v1/nodes/a..b", ``, "", 400, api.CodeWrongInput},
		{"patch name not hostname", "PATCH", "/api/v1/nodes/-x", `{"drained":true}`, "", 400, api.CodeWrongInput},
		{"delete name not hostname", "DELETE", "/api/v1/nodes/x_y", ``, "", 400, api.CodeWrongInput},
		{"credentials name not hostname", "POST", "/api/v1/nodes/x%20y/credentials", ``, "", 400, api.CodeWrongInput},
		{"empty modify", "PATCH", "/api/v1/nodes/n1", `{}`, "", 400, api.CodeWrongInput},
		{"unknown node", "GET", "/api/v1/nodes/n9", ``, "", 404, api.CodeUnknownEntity},
		{"modify unknown node", "PATCH", "/api/v1/nodes/n9", `{"drained":true}`, "", 404, api.CodeUnknownEntity},
		{"remove unknown node", "DELETE", "/api/v1/nodes/n9", ``, "", 404, api.CodeUnknownEntity},
		{"unknown node field", "GET", "/api/v1/nodes?fields=name,bogus", ``, "", 400, api.CodeWrongInput},
		{"unknown node filter", "GET", "/api/v1/nodes?bogus=1", ``, "", 400, api.CodeWrongInput},
		{"job id not a number", "GET", "/api/v1/jobs/abc", ``, "", 400, api.CodeWrongInput},
		{"job id zero", "GET", "/api/v1/jobs/0", ``, "", 400, api.CodeWrongInput},
		{"job id negative", "DELETE", "/api/v1/jobs/-1", ``, "", 400, api.CodeWrongInput},
		{"job id overflow", "GET", "/api/v1/jobs/99999999999999999999", ``, "", 400, api.CodeWrongInput},
		{"unknown job", "GET", "/api/v1/jobs/12345", ``, "", 404, api.CodeUnknownEntity},
		{"cancel unknown job", "DELETE", "/api/v1/jobs/12345", ``, "", 404, api.CodeUnknownEntity},
		{"bad job state", "GET", "/api/v1/jobs?state=running,nope", ``, "", 400, api.CodeWrongInput},
		{"bad job limit", "GET", "/api/v1/jobs?limit=-1", ``, "", 400, api.CodeWrongInput},
		{"bad job archived", "GET", "/api/v1/jobs?archived=maybe", ``, "", 400, api.CodeWrongInput},
		{"unknown job param", "GET", "/api/v1/jobs?bogus=1", ``, "", 400, api.CodeWrongInput},
		{"bad wait timeout", "GET", "/api/v1/jobs/1/wait?timeout=soon", ``, "", 400, api.CodeWrongInput},
		{"bad wait log", "GET", "/api/v1/jobs/1/wait?log=-3", ``, "", 400, api.CodeWrongInput},
		{"bad wait state", "GET", "/api/v1/jobs/1/wait?state=bogus", ``, "", 400, api.CodeWrongInput},
		{"unknown opcode", "POST", "/api/v1/jobs", `{"ops":[{"kind":"cluster.destroy","params":{}}]}`, "", 400, api.CodeWrongInput},
		{"no opcodes", "POST", "/api/v1/jobs", `{"ops":[]}`, "", 400, api.CodeWrongInput},
		{"opcode unknown param", "POST", "/api/v1/jobs", `{"ops":[{"kind":"debug.delay","params":{"duration":"1s","x":1}}]}`, "", 400, api.CodeWrongInput},
		{"opcode bad name", "POST", "/api/v1/jobs", `{"ops":[{"kind":"node.add","params":{"name":"a/b"}}]}`, "", 400, api.CodeWrongInput},
		{"bad priority", "POST", "/api/v1/jobs", `{"ops":[{"kind":"debug.delay","params":{"duration":"1s"}}],"priority":99}`, "", 400, api.CodeWrongInput},
		{"bad delay duration", "POST", "/api/v1/debug/delay", `{"duration":"forever"}`, "", 400, api.CodeWrongInput},
		{"negative delay", "POST", "/api/v1/debug/delay", `{"duration":"-1s"}`, "", 400, api.CodeWrongInput},
		{"bad delay steps", "POST", "/api/v1/debug/delay", `{"duration":"1s","steps":-1}`, "", 400, api.CodeWrongInput},
		{"bad role", "POST", "/api/v1/users", `{"name":"u1","role":"root"}`, "", 400, api.CodeWrongInput},
		{"node role refused", "POST", "/api/v1/users", `{"name":"u1","role":"node"}`, "", 400, api.CodeWrongInput},
		{"user name not hostname", "POST", "/api/v1/users", `{"name":"Robert'); DROP","role":"read"}`, "", 400, api.CodeWrongInput},
		{"existing user", "POST", "/api/v1/users", `{"name":"admin","role":"read"}`, "", 409, api.CodeAlreadyExists},
		{"remove unknown user", "DELETE", "/api/v1/users/ghost", ``, "", 404, api.CodeUnknownEntity},
		{"bad token ttl", "POST", "/api/v1/users/admin/tokens", `{"ttl":"forever"}`, "", 400, api.CodeWrongInput},
		{"token ttl too long", "POST", "/api/v1/users/admin/tokens", `{"ttl":"9000h"}`, "", 400, api.CodeWrongInput},
		{"token ttl zero", "POST", "/api/v1/users/admin/tokens", `{"ttl":"0s"}`, "", 400, api.CodeWrongInput},
		{"token for unknown user", "POST", "/api/v1/users/ghost/tokens", `{}`, "", 404, api.CodeUnknownEntity},
		{"bad token id", "DELETE", "/api/v1/tokens/a%20b", ``, "", 400, api.CodeWrongInput},
		{"unknown token", "DELETE", "/api/v1/tokens/abc", ``, "", 404, api.CodeUnknownEntity},
		{"verify with body", "POST", "/api/v1/cluster/verify", `{"x":1}`, "", 400, api.CodeWrongInput},
		{"unknown route", "GET", "/api/v1/instances", ``, "", 404, api.CodeUnknownEntity},
		{"unknown version", "GET", "/api/v2/nodes", ``, "", 404, api.CodeUnknownEntity},
		{"trailing slash", "GET", "/api/v1/nodes/", ``, "", 404, api.CodeUnknownEntity},
		{"root", "GET", "/", ``, "", 404, api.CodeUnknownEntity},
		{"wrong method", "PUT", "/api/v1/nodes", `{}`, "", 405, api.CodeWrongInput},
		{"wrong method on item", "POST", "/api/v1/jobs/1", ``, "", 405, api.CodeWrongInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token
			if tok == "" {
				tok = f.admin
			}
			rec := f.doString(tt.method, tt.path, tok, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body.String())
			}
			if e := errorOf(t, rec); e.Code != tt.code {
				t.Fatalf("code %s, want %s (%s)", e.Code, tt.code, e.Message)
			}
		})
	}
	// Bad input changes nothing.
	ctx := context.Background()
	if jobs, _ := f.b.ListJobs(ctx, api.JobFilter{}); len(jobs) != 0 {
		t.Errorf("bad input made %d jobs", len(jobs))
	}
	if nodes, _ := f.b.ListNodes(ctx); len(nodes) != 0 {
		t.Errorf("bad input made %d nodes", len(nodes))
	}
	if users, _ := f.b.ListUsers(ctx); len(users) != 3 {
		t.Errorf("bad input changed users: %v", users)
	}
}

func TestOversizedBodyWithoutLength(t *testing.T) {
	f := newFixture(t)
	body := `{"name":"n1","tags":["` + strings.Repeat("x", 2*api.MaxBodyBytes) + `"]}`
	req := httptest.NewRequest("POST", "/api/v1/nodes", strings.NewReader(body))
	req.ContentLength = -1 // as a chunked request
	req.Header.Set("Authorization", "Bearer "+f.admin)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413: %s", rec.Code, rec.Body.String())
	}
	if e := errorOf(t, rec); e.Code != api.CodeWrongInput {
		t.Fatalf("code %s", e.Code)
	}
}

func TestChangesAnswer202(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	accepted := func(rec *httptest.ResponseRecorder) uint64 {
		t.Helper()
		if rec.Code != http.StatusAccepted {
			t.Fatalf("status %d, want 202: %s", rec.Code, rec.Body.String())
		}
		var acc api.JobAccepted
		if err := json.Unmarshal(rec.Body.Bytes(), &acc); err != nil || acc.JobID == 0 {
			t.Fatalf("answer %q: %v", rec.Body.String(), err)
		}
		if loc := rec.Header().Get("Location"); loc != "/api/v1/jobs/"+uitoa(acc.JobID) {
			t.Fatalf("Location %q", loc)
		}
		j, err := f.b.WaitJob(ctx, acc.JobID, api.JobSuccess, 1<<30, 5*time.Second)
		for err == nil && !j.State.Finished() {
			j, err = f.b.WaitJob(ctx, acc.JobID, j.State, len(j.Log), 5*time.Second)
		}
		if err != nil || j.State != api.JobSuccess {
			t.Fatalf("job %d: %v %+v", acc.JobID, err, j)
		}
		return acc.JobID
	}
	accepted(f.doString("POST", "/api/v1/nodes", f.admin, `{"name":"n1","secondary_ip":"10.0.0.1","tags":["a"]}`))
	accepted(f.doString("POST", "/api/v1/nodes", f.admin, `{"name":"n2"}`))
	// Submit-time check: a node that exists is refused without a job.
	if rec := f.doString("POST", "/api/v1/nodes", f.admin, `{"name":"n1"}`); rec.Code != 409 || errorOf(t, rec).Code != api.CodeAlreadyExists {
		t.Fatalf("duplicate node: %d %s", rec.Code, rec.Body.String())
	}
	accepted(f.doString("PATCH", "/api/v1/nodes/n1", f.operate, `{"drained":true}`))
	n, err := f.b.GetNode(ctx, "n1")
	if err != nil || !n.Drained {
		t.Fatalf("node after modify: %+v %v", n, err)
	}
	accepted(f.doString("DELETE", "/api/v1/nodes/n2", f.admin, ``))
	if _, err := f.b.GetNode(ctx, "n2"); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Fatalf("node n2 still there: %v", err)
	}
	accepted(f.doString("POST", "/api/v1/debug/delay", f.operate, `{"duration":"20ms","steps":2}`))
	accepted(f.doString("POST", "/api/v1/jobs", f.operate, `{"ops":[{"kind":"debug.delay","params":{"duration":"0s"}}]}`))

	// Field selection and filters.
	rec := f.doString("GET", "/api/v1/nodes?fields=name,status,drained&status=online", f.reader, ``)
	if rec.Code != 200 {
		t.Fatalf("list: %d %s", rec.Code, rec.Body.String())
	}
	var sel []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &sel); err != nil {
		t.Fatal(err)
	}
	if len(sel) != 1 || len(sel[0]) != 3 || sel[0]["name"] != "n1" || sel[0]["drained"] != true {
		t.Fatalf("selected %v", sel)
	}
	rec = f.doString("GET", "/api/v1/nodes?drained=false", f.reader, ``)
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("filter drained=false: %d %s", rec.Code, rec.Body.String())
	}
}

func TestHealthWithoutToken(t *testing.T) {
	f := newFixture(t)
	rec := f.doString("GET", "/api/v1/health", "", "")
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	var h api.Health
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || h.Master != "master1" {
		t.Fatalf("health %q: %v", rec.Body.String(), err)
	}
}

// panicBackend panics in ClusterInfo.
type panicBackend struct{ *apitest.Backend }

func (panicBackend) ClusterInfo(context.Context) (*api.ClusterInfo, error) {
	panic("boom")
}

// failBackend returns an error without a code.
type failBackend struct{ *apitest.Backend }

func (failBackend) ClusterVerify(context.Context) (*api.VerifyReport, error) {
	return nil, io.ErrUnexpectedEOF
}

func TestPanicAndInternalErrors(t *testing.T) {
	b, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	f := newFixtureWith(t, b, panicBackend{b})
	rec := f.doString("GET", "/api/v1/cluster", f.reader, "")
	if rec.Code != 500 || errorOf(t, rec).Code != api.CodeInternal {
		t.Fatalf("panic: %d %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(f.logs.String(), "handler panic") {
		t.Fatalf("panic not logged: %s", f.logs.String())
	}
	f = newFixtureWith(t, b, failBackend{b})
	rec = f.doString("POST", "/api/v1/cluster/verify", f.reader, "")
	if e := errorOf(t, rec); rec.Code != 500 || e.Code != api.CodeInternal || strings.Contains(e.Message, "EOF") {
		t.Fatalf("internal: %d %+v", rec.Code, e)
	}
}

func TestRequestLog(t *testing.T) {
	f := newFixture(t)
	f.doString("GET", "/api/v1/cluster", f.reader, "")
	for _, want := range []string{"method=GET", "path=/api/v1/cluster", "status=200", "user=reader", "duration="} {
		if !strings.Contains(f.logs.String(), want) {
			t.Errorf("log lacks %q: %s", want, f.logs.String())
		}
	}
}

func uitoa(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func newReq(method, path, body string) *http.Request {
	var r io.Reader
	if body != "" && method != "GET" {
		r = strings.NewReader(body)
	}
	return httptest.NewRequest(method, path, r)
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
