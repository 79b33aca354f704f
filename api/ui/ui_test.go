package ui_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/ui"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/mastertest"
	"github.com/drover-project/drover/master/mastertest/agenttest"
	"github.com/drover-project/drover/nodeagent/hv/fake"
)

// dash is a real master (on its embedded etcd) with one real agent (fake
// hypervisor), reached over its HTTPS API as a browser would.
type dash struct {
	t     *testing.T
	c     *mastertest.Cluster
	m     *master.Master
	base  string
	admin string
	hc    *http.Client
}

func startDash(t *testing.T) *dash {
	t.Helper()
	c := mastertest.Start(t, mastertest.Options{API: true,
		Extra: func(cfg *master.Config) { cfg.PasswordCost = bcrypt.MinCost }})
	m := c.Masters[0].M
	agenttest.Start(t, m, "node1", fake.New(fake.Options{CPUs: 2, MemoryMiB: 2048}))
	d, err := master.LoadClusterDir(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(d.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tok, _ := c.AdminToken()
	hc := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	t.Cleanup(hc.CloseIdleConnections)
	return &dash{t: t, c: c, m: m, base: "https://" + m.APIAddr(), admin: tok, hc: hc}
}

// do sends a request; headers are "Name: value" strings.
func (d *dash) do(method, path string, cookie *http.Cookie, body any, headers ...string) (*http.Response, []byte) {
	d.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.base+path, r)
	if err != nil {
		d.t.Fatal(err)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == ui.CookieName && ck.Value != "" {
			return ck
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header.Values("Set-Cookie"))
	return nil
}

// loginLink asks for a one-time link with the admin token.
func (d *dash) loginLink() ui.LoginLink {
	d.t.Helper()
	resp, data := d.do(http.MethodPost, ui.LoginLinksPath, nil, nil, "Authorization: Bearer "+d.admin)
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("login link: %d %s", resp.StatusCode, data)
	}
	var l ui.LoginLink
	if err := json.Unmarshal(data, &l); err != nil {
		d.t.Fatal(err)
	}
	return l
}

func TestOneTimeLinkAndCookie(t *testing.T) {
	d := startDash(t)
	if resp, _ := d.do(http.MethodPost, ui.LoginLinksPath, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login link without a token: %d", resp.StatusCode)
	}
	l := d.loginLink()
	if l.User != "admin" || time.Until(l.ExpiresAt) > ui.OnceTTL || !strings.HasPrefix(l.Path, ui.OncePath+"?once=") {
		t.Fatalf("link: %+v", l)
	}
	resp, _ := d.do(http.MethodGet, l.Path, nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("redeem: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	raw := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"} {
		if !strings.Contains(raw, want) {
			t.Errorf("session cookie lacks %s: %s", want, raw)
		}
	}
	ck := sessionCookie(t, resp)
	// Single use: the same link again is refused, and makes no cookie.
	again, _ := d.do(http.MethodGet, l.Path, nil, nil)
	if again.StatusCode != http.StatusUnauthorized || len(again.Cookies()) != 0 {
		t.Fatalf("second use of the link: %d %v", again.StatusCode, again.Cookies())
	}
	resp, data := d.do(http.MethodGet, "/ui/api/session", ck, nil)
	var s ui.Session
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &s) != nil || s.User != "admin" || !s.CanCancel {
		t.Fatalf("session: %d %s", resp.StatusCode, data)
	}
	// Logout revokes the session's token.
	if resp, data := d.do(http.MethodPost, "/ui/api/logout", ck, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without %s: %d %s", ui.HeaderUI, resp.StatusCode, data)
	}
	if resp, data := d.do(http.MethodPost, "/ui/api/logout", ck, nil, ui.HeaderUI+": 1"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d %s", resp.StatusCode, data)
	}
	if resp, _ := d.do(http.MethodGet, "/ui/api/session", ck, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session after logout: %d", resp.StatusCode)
	}
	if resp, _ := d.do(http.MethodGet, "/api/v1/cluster", nil, nil, "Authorization: Bearer "+ck.Value); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API with the logged-out session's token: %d", resp.StatusCode)
	}
}

func TestReadOnlyUserCannotCancel(t *testing.T) {
	d := startDash(t)
	ctx := context.Background()
	if _, err := d.m.AddUser(ctx, api.UserAdd{Name: "viewer", Role: api.RoleRead}); err != nil {
		t.Fatal(err)
	}
	if err := d.m.SetPassword(ctx, "viewer", "s3cret-enough"); err != nil {
		t.Fatal(err)
	}
	hdr := ui.HeaderUI + ": 1"
	if resp, _ := d.do(http.MethodPost, "/ui/api/login", nil, ui.Login{User: "viewer", Password: "wrong"}, hdr); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if resp, _ := d.do(http.MethodPost, "/ui/api/login", nil, ui.Login{User: "viewer", Password: "s3cret-enough"}, hdr, "Origin: https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin login: %d", resp.StatusCode)
	}
	resp, data := d.do(http.MethodPost, "/ui/api/login", nil, ui.Login{User: "viewer", Password: "s3cret-enough"}, hdr)
	var s ui.Session
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &s) != nil || s.Role != api.RoleRead || s.CanCancel {
		t.Fatalf("viewer login: %d %s", resp.StatusCode, data)
	}
	viewer := sessionCookie(t, resp)

	id := mastertest.Submit(t, d.m, 0, mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "60s", Steps: 60}))
	mastertest.WaitJobState(t, d.m, id, 30*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning })
	path := "/ui/api/jobs/" + itoa(id) + "/cancel"
	if resp, data := d.do(http.MethodPost, path, viewer, nil, hdr); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer cancel through the dashboard: %d %s", resp.StatusCode, data)
	}
	if resp, data := d.do(http.MethodDelete, "/api/v1/jobs/"+itoa(id), nil, nil, "Authorization: Bearer "+viewer.Value); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer cancel through the API with the session's token: %d %s", resp.StatusCode, data)
	}
	if j, _ := d.m.GetJob(ctx, id); j.State != api.JobRunning || j.CancelRequested {
		t.Fatalf("job after refused cancels: %s cancel=%v", j.State, j.CancelRequested)
	}

	// A token logs in too; an operator's session may cancel.
	tok, err := d.m.IssueToken(ctx, "admin", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, data = d.do(http.MethodPost, "/ui/api/login", nil, ui.Login{Token: tok.Token}, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token login: %d %s", resp.StatusCode, data)
	}
	admin := sessionCookie(t, resp)
	if resp, data := d.do(http.MethodPost, path, admin, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cancel without %s: %d %s", ui.HeaderUI, resp.StatusCode, data)
	}
	if resp, data := d.do(http.MethodPost, path, admin, nil, hdr); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin cancel: %d %s", resp.StatusCode, data)
	}
	if j := mastertest.WaitJob(t, d.m, id, 30*time.Second); j.State != api.JobCanceled {
		t.Fatalf("job after cancel: %s", j.State)
	}
}

// TestEventsPushChanges reads the event stream: the first view shows the
// real node, and a job submitted afterwards arrives in a later view.
func TestEventsPushChanges(t *testing.T) {
	d := startDash(t)
	l := d.loginLink()
	resp, _ := d.do(http.MethodGet, l.Path, nil, nil)
	ck := sessionCookie(t, resp)
	if resp, _ := d.do(http.MethodGet, ui.EventsPath, nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("events without a session: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.base+ui.EventsPath, nil)
	req.AddCookie(ck)
	stream, err := d.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if ct := stream.Header.Get("Content-Type"); stream.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("events: %d %q", stream.StatusCode, ct)
	}
	views := make(chan ui.View, 16)
	go func() {
		defer close(views)
		sc := bufio.NewScanner(stream.Body)
		sc.Buffer(nil, 4<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "view":
				var v ui.View
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &v) == nil {
					views <- v
				}
			}
		}
	}()
	next := func() ui.View {
		t.Helper()
		select {
		case v, open := <-views:
			if !open {
				t.Fatal("event stream ended")
			}
			return v
		case <-ctx.Done():
			t.Fatal("no view in time")
		}
		return ui.View{}
	}
	v := next()
	if len(v.Nodes) != 1 || v.Nodes[0].Name != "node1" || v.Cluster == nil || v.Cluster.Name != "test" || v.Health.Masters != 1 {
		t.Fatalf("first view: %+v", v)
	}
	id := mastertest.Submit(t, d.m, 0, mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "1s", Steps: 2}))
	for {
		v = next()
		var got *ui.JobView
		for i := range v.Jobs {
			if v.Jobs[i].ID == id {
				got = &v.Jobs[i]
			}
		}
		if got != nil && got.State == api.JobSuccess {
			if got.Ops[0] != api.OpDebugDelay || got.OpsDone != 1 || got.LogTotal == 0 {
				t.Fatalf("job in the view: %+v", got)
			}
			break
		}
	}
	// A stopping master ends open streams (they never go idle, so
	// http.Server.Shutdown alone would leave them open).
	stopped := time.Now()
	go d.c.Stop(0)
	for {
		select {
		case _, open := <-views:
			if open {
				continue
			}
			t.Logf("stream ended %v after the stop began", time.Since(stopped).Round(time.Millisecond))
			return
		case <-time.After(15 * time.Second):
			t.Fatal("event stream still open 15 s after the master began to stop")
		}
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
