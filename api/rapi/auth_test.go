package rapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/apitest"
	"github.com/drover-project/drover/api/rapi"
)

// fakeBackend is an in-memory fake of the master for the RAPI's
// authentication: apitest's Backend, fixed passwords, an empty allocator
// view. Instance calls are not used here (the nil InstanceBackend panics).
type fakeBackend struct {
	*apitest.Backend
	api.InstanceBackend
	anon      bool
	passwords map[string]string
	roles     map[string]string
}

func (f *fakeBackend) CheckPassword(_ context.Context, user, pw string) (api.Principal, error) {
	if p, found := f.passwords[user]; found && p == pw {
		return api.Principal{User: user, Role: f.roles[user]}, nil
	}
	return api.Principal{}, api.Errorf(api.CodeUnauthorized, "wrong user name or password")
}

func (f *fakeBackend) SetPassword(context.Context, string, string) error { return nil }
func (f *fakeBackend) RAPIAnonymousReads() bool                          { return f.anon }
func (f *fakeBackend) AllocatorView(context.Context) (*api.AllocatorView, error) {
	return &api.AllocatorView{}, nil
}
func (f *fakeBackend) ClusterTags(context.Context) ([]string, error) { return []string{}, nil }

func TestAuthentication(t *testing.T) {
	b, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	f := &fakeBackend{Backend: b, passwords: map[string]string{"ro": "read-pw-1", "rw": "write-pw-1"},
		roles: map[string]string{"ro": api.RoleRead, "rw": api.RoleOperate}}
	srv := httptest.NewServer(api.NewServer(f, b.Verifier(), nil, rapi.New(f, b.Verifier(), "test", nil)))
	defer srv.Close()
	readTok, err := b.Token("reader", api.RoleRead, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	type auth struct{ user, pw, bearer string }
	call := func(method, path string, a auth) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.user != "" {
			req.SetBasicAuth(a.user, a.pw)
		}
		if a.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+a.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	none, ro, rw := auth{}, auth{user: "ro", pw: "read-pw-1"}, auth{user: "rw", pw: "write-pw-1"}
	for _, c := range []struct {
		name         string
		anon         bool
		method, path string
		a            auth
		want         int
	}{
		{"version needs nothing", false, "GET", "/version", none, 200},
		{"features need nothing", false, "GET", "/2/features", none, 200},
		{"anonymous read off", false, "GET", "/2/info", none, 401},
		{"anonymous read on", true, "GET", "/2/info", none, 200},
		{"anonymous write", true, "PUT", "/2/tags?tag=a", none, 401},
		{"basic read", false, "GET", "/2/info", ro, 200},
		{"basic wrong password", false, "GET", "/2/info", auth{user: "ro", pw: "nope-nope"}, 401},
		{"basic unknown user", false, "GET", "/2/info", auth{user: "who", pw: "read-pw-1"}, 401},
		{"read user writes", false, "PUT", "/2/tags?tag=a", ro, 403},
		{"read user waits on a job", false, "GET", "/2/jobs/1/wait", ro, 403},
		{"bearer read", false, "GET", "/2/info", auth{bearer: readTok}, 200},
		{"bearer read writes", false, "PUT", "/2/tags?tag=a", auth{bearer: readTok}, 403},
		{"bad bearer", true, "GET", "/2/info", auth{bearer: "x.y.z"}, 401},
		{"unknown resource", false, "GET", "/2/nosuch", rw, 404},
		{"unsupported method", false, "DELETE", "/2/info", rw, 501},
	} {
		f.anon = c.anon
		code, body, hdr := call(c.method, c.path, c.a)
		if code != c.want {
			t.Errorf("%s: %s %s: %d, want %d: %s", c.name, c.method, c.path, code, c.want, body)
			continue
		}
		if code == 200 {
			continue
		}
		var e rapi.ErrorBody
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != code || e.Message == "" || e.Explain == "" {
			t.Errorf("%s: error body %q is not Ganeti's {code, message, explain}", c.name, body)
		}
		if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: WWW-Authenticate %q", c.name, hdr.Get("WWW-Authenticate"))
		}
	}
}
