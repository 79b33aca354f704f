package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
)

// bodyRoutes are the routes that read a body, for the body fuzzers.
var bodyRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/nodes"},
	{"PATCH", "/api/v1/nodes/n1"},
	{"POST", "/api/v1/jobs"},
	{"POST", "/api/v1/debug/delay"},
	{"POST", "/api/v1/users"},
	{"POST", "/api/v1/users/admin/tokens"},
	{"POST", "/api/v1/cluster/verify"},
	{"POST", "/api/v1/nodes/n1/credentials"},
	{"PATCH", "/api/v1/cluster"},
}

// checkAnswer fails on a 5xx, and on an error answer that is not an ErrorBody.
func checkAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: status %d: %s", what, rec.Code, rec.Body.String())
	}
	if rec.Code >= 400 {
		var eb api.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error == nil || eb.Error.Code == "" {
			t.Fatalf("%s: status %d, not an ErrorBody: %q", what, rec.Code, rec.Body.String())
		}
		if api.HTTPStatus(eb.Error.Code) != rec.Code && rec.Code != 405 && rec.Code != 413 {
			t.Fatalf("%s: status %d with code %s", what, rec.Code, eb.Error.Code)
		}
	}
}

func seedBodies(f *testing.F, add func(string)) {
	for _, s := range []string{
		`{"name":"n1"}`, `{"name":"n2","secondary_ip":"10.0.0.2","tags":["a","b"],"master_capable":false}`,
		`{"drained":true}`, `{"secondary_ip":"::1"}`, `{"duration":"10ms","steps":2}`,
		`{"ops":[{"kind":"debug.delay","params":{"duration":"0s"}}],"priority":-3}`,
		`{"ops":[{"kind":"node.modify","params":{"name":"n1","offline":true}}]}`,
		`{"name":"u1","role":"read"}`, `{"ttl":"1h"}`, `{}`, `null`, `[]`, `"x"`, `{"name":"n1"}{}`,
		`{"name":"\u0000"}`, `{"name":"a","name":"b"}`, `{"tags":[null]}`, `{"ttl":1e309}`,
		"\xff\xfe", `{"ops":[{"kind":"node.add","params":null}]}`, strings.Repeat("[", 10000),
		`{"ops":[{"kind":"debug.delay","params":{"duration":"0s","Duration":"1h"}}]}`, `{"name":"u1","role":"read","ROLE":"admin"}`,
		`{"ping_targets":{"default":["192.0.2.1","2001:db8::1"]},"uplink_migrate":false}`, `{"ping_targets":{"default":[]}}`,
		`{"ping_targets":{"Bad_G":["x"]}}`, `{"cluster_ip":"192.0.2.9/24","cluster_ip_dev":"br0"}`,
	} {
		add(s)
	}
}

// FuzzDecodeNodeAdd sends arbitrary bodies to POST /nodes.
func FuzzDecodeNodeAdd(f *testing.F) {
	seedBodies(f, func(s string) { f.Add([]byte(s)) })
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := fx.do("POST", "/api/v1/nodes", fx.admin, bytes.NewReader(body))
		checkAnswer(t, "POST /nodes", rec)
		if rec.Code == 202 {
			var n api.NodeAdd
			if err := api.DecodeStrict(bytes.NewReader(body), &n); err != nil || n.Validate() != nil {
				t.Fatalf("accepted a body that does not validate: %q", body)
			}
		}
	})
}

// FuzzRequestBody sends arbitrary bodies to every route that reads one.
func FuzzRequestBody(f *testing.F) {
	seedBodies(f, func(s string) {
		for i := range bodyRoutes {
			f.Add(uint8(i), []byte(s))
		}
	})
	fx := newFixture(f)
	fx.b.AddNode(api.Node{Name: "n1"})
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := bodyRoutes[int(route)%len(bodyRoutes)]
		rec := fx.do(r.method, r.path, fx.admin, bytes.NewReader(body))
		checkAnswer(t, r.method+" "+r.path, rec)
		checkNoDuplicateAccepted(t, r.method+" "+r.path, body, rec)
	})
}

// checkNoDuplicateAccepted fails when a body with a duplicate key was
// answered with success.
func checkNoDuplicateAccepted(t *testing.T, what string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	if k, where, dup := api.DuplicateKey(body); dup && rec.Code < 300 {
		t.Fatalf("%s: body with duplicate key %q in %s answered %d", what, k, where, rec.Code)
	}
}

// FuzzRequestURL sends arbitrary paths and queries with every method.
func FuzzRequestURL(f *testing.F) {
	for _, s := range []string{
		"/api/v1/nodes?fields=name,status&status=online", "/api/v1/nodes/n1", "/api/v1/jobs/1/wait?state=running&log=3&timeout=1ms",
		"/api/v1/jobs?state=queued&limit=5&archived=1", "/api/v1/users/admin/tokens", "/api/v1/tokens/abc",
		"/api/v1/nodes/%2e%2e", "/api/v1//nodes", "/api/v1/jobs/18446744073709551615", "/api/v1/nodes?tags=a&tags=b",
		"/api/v1/nodes?fields=", "/api/v1/jobs/1/wait?timeout=-1s",
	} {
		for m := range 5 {
			f.Add(uint8(m), s)
		}
	}
	methods := []string{"GET", "POST", "PATCH", "DELETE", "PUT"}
	fx := newFixture(f)
	fx.b.AddNode(api.Node{Name: "n1", Tags: []string{"a"}})
	f.Fuzz(func(t *testing.T, m uint8, target string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\t#") {
			return // not a request target httptest can build
		}
		req := newSafeRequest(methods[int(m)%len(methods)], target)
		if req == nil {
			return
		}
		// The wait route must not hold the fuzzer for long.
		if strings.Contains(target, "wait") {
			q := req.URL.Query()
			q.Set("timeout", "1ms")
			req.URL.RawQuery = q.Encode()
		}
		req.Header.Set("Authorization", "Bearer "+fx.admin)
		// Never delete the admin's own user or token under the fuzzer.
		if req.Method == "DELETE" && (strings.Contains(req.URL.Path, "/users/") || strings.Contains(req.URL.Path, "/tokens/")) {
			return
		}
		rec := serve(fx.h, req)
		checkAnswer(t, req.Method+" "+target, rec)
	})
}

// newSafeRequest is httptest.NewRequest without its panic on bad targets.
func newSafeRequest(method, target string) (req *http.Request) {
	defer func() {
		if recover() != nil {
			req = nil
		}
	}()
	return httptest.NewRequest(method, target, nil)
}

// FuzzVerifyToken checks that Verify never panics, refuses anything but a
// valid token with unauthorized, and that the server answers 401, never 5xx.
func FuzzVerifyToken(f *testing.F) {
	fx := newFixture(f)
	for _, s := range []string{
		fx.admin, fx.reader, "", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
		strings.Replace(fx.admin, ".", "..", 1), fx.admin + "x", fx.admin[:len(fx.admin)-2],
		"eyJhbGciOiJIUzI1NiJ9.e30.", strings.Repeat("A", 9000),
	} {
		f.Add(s)
	}
	v := fx.b.Verifier()
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(tok, time.Now())
		if err != nil {
			if api.CodeOf(err) != api.CodeUnauthorized {
				t.Fatalf("Verify(%q): code %s", tok, api.CodeOf(err))
			}
		} else if tok != fx.admin && tok != fx.reader && tok != fx.operate {
			// Another valid token can only be a re-encoding of one of ours.
			if p.User != "admin" && p.User != "reader" && p.User != "op" {
				t.Fatalf("Verify accepted a forged token for %+v", p)
			}
		}
		if strings.ContainsAny(tok, "\r\n\x00") {
			return
		}
		req := httptest.NewRequest("GET", "/api/v1/cluster", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := serve(fx.h, req)
		checkAnswer(t, "GET /cluster", rec)
		if err != nil && rec.Code != 401 {
			t.Fatalf("token refused by Verify answered %d", rec.Code)
		}
	})
}

// instanceBodyRoutes are the instance and template routes that read a body.
var instanceBodyRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/instances"},
	{"PATCH", "/api/v1/instances/web1"},
	{"POST", "/api/v1/instances/web1/shutdown"},
	{"POST", "/api/v1/instances/web1/reinstall"},
	{"POST", "/api/v1/instances/web1/rename"},
	{"POST", "/api/v1/instances/web1/grow-disk"},
	{"POST", "/api/v1/templates"},
}

// FuzzInstanceBody sends arbitrary bodies to the instance and template
// routes: never a 5xx, errors are ErrorBody, and an accepted instance add is
// one that decodes strictly and validates.
func FuzzInstanceBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"web2","disk_template":"file","os":"tiny@2","node":"node1","disks":[{"size_mib":64}],"vcpus":1,"memory_mib":256}`,
		`{"name":"web2","disk_template":"diskless","os":"tiny","vcpus":1,"memory_mib":64,"no_start":true}`,
		`{"vcpus":2,"memory_mib":512}`, `{"timeout":"30s"}`, `{"force":true}`, `{"new_name":"web3"}`,
		`{"disk":0,"amount_mib":128}`, `{"name":"deb","suite":"bookworm","variant":"minbase","include":["openssh-server"]}`,
		`{}`, `null`, `{"name":"web2","disks":[{"size_mib":-1}]}`, `{"vcpus":1,"vcpus":64}`,
		`{"name":"web2","disk_template":"diskless","os":"tiny","vcpus":1,"memory_mib":64,"Name":"web3"}`, `{"nics":[{"mac":"zz"}]}`, "\xff",
	} {
		for i := range instanceBodyRoutes {
			f.Add(uint8(i), []byte(s))
		}
	}
	fx, _ := newInstFixture(f)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := instanceBodyRoutes[int(route)%len(instanceBodyRoutes)]
		rec := fx.do(r.method, r.path, fx.admin, bytes.NewReader(body))
		checkAnswer(t, r.method+" "+r.path, rec)
		checkNoDuplicateAccepted(t, r.method+" "+r.path, body, rec)
		if rec.Code == 202 && r.path == "/api/v1/instances" {
			var a api.InstanceAdd
			if err := api.DecodeStrict(bytes.NewReader(body), &a); err != nil || a.Validate() != nil {
				t.Fatalf("accepted an instance add that does not validate: %q", body)
			}
		}
	})
}
