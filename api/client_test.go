package api_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/apitest"
)

func TestClientRoundTrip(t *testing.T) {
	h := apitest.Start(t, nil)
	c := h.Client
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if hl, err := c.Health(ctx); err != nil || hl.Master != "master1" {
		t.Fatalf("health: %+v %v", hl, err)
	}
	info, err := c.ClusterInfo(ctx)
	if err != nil || info.Name != apitest.ClusterName || info.AnsweredBy != "master1" {
		t.Fatalf("cluster info: %+v %v", info, err)
	}

	id, err := c.AddNode(ctx, api.NodeAdd{Name: "n1", SecondaryIP: "10.0.0.1"})
	if err != nil || id == 0 {
		t.Fatalf("add node: %d %v", id, err)
	}
	var updates []api.JobState
	j, err := c.WaitForJob(ctx, id, func(j *api.Job) { updates = append(updates, j.State) })
	if err != nil || j.State != api.JobSuccess || len(updates) == 0 || updates[len(updates)-1] != api.JobSuccess {
		t.Fatalf("wait node add: %+v %v updates %v", j, err, updates)
	}
	n, err := c.GetNode(ctx, "n1")
	if err != nil || n.Status != api.NodeOnline || n.SecondaryIP != "10.0.0.1" {
		t.Fatalf("get node: %+v %v", n, err)
	}
	if _, err := c.GetNode(ctx, "n2"); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Fatalf("unknown node: %v", err)
	}
	if _, err := c.AddNode(ctx, api.NodeAdd{Name: "bad_name"}); api.CodeOf(err) != api.CodeWrongInput {
		t.Fatalf("bad name: %v", err)
	}
	drained := true
	id, err = c.ModifyNode(ctx, "n1", api.NodeModify{Drained: &drained})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := c.WaitForJob(ctx, id, nil); err != nil || j.State != api.JobSuccess {
		t.Fatalf("modify: %+v %v", j, err)
	}
	nodes, err := c.ListNodes(ctx, api.NodeQuery{Fields: []string{"name", "drained"}, Filter: map[string]string{"drained": "true"}})
	if err != nil || len(nodes) != 1 || nodes[0].Name != "n1" || !nodes[0].Drained || nodes[0].Status != "" {
		t.Fatalf("list nodes: %+v %v", nodes, err)
	}
	rep, err := c.ClusterVerify(ctx)
	if err != nil || !rep.OK || len(rep.Findings) != 1 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	cr, err := c.NodeCredentials(ctx, "n1")
	if err != nil || cr.EtcdUser != "node.n1" || cr.EtcdPassword == "" {
		t.Fatalf("credentials: %+v %v", cr, err)
	}

	// A job with progress: onUpdate sees every step's log line.
	id, err = c.DebugDelay(ctx, api.DebugDelay{Duration: "60ms", Steps: 3})
	if err != nil {
		t.Fatal(err)
	}
	var seenLog int
	j, err = c.WaitForJob(ctx, id, func(j *api.Job) { seenLog = len(j.Log) })
	if err != nil || j.State != api.JobSuccess || seenLog != len(j.Log) || j.OpStatus[0].StepsDone != 3 {
		t.Fatalf("delay: %+v %v (saw %d log lines)", j, err, seenLog)
	}
	// A failing job ends in error with a code, and WaitForJob returns no error.
	id, err = c.DebugDelay(ctx, api.DebugDelay{Duration: "0s", Fail: true})
	if err != nil {
		t.Fatal(err)
	}
	j, err = c.WaitForJob(ctx, id, nil)
	if err != nil || j.State != api.JobError || j.Error == nil || j.Error.Code != api.CodeWrongState {
		t.Fatalf("failing delay: %+v %v", j, err)
	}
	// Generic submit, list, get, wait, cancel.
	id, err = c.SubmitJob(ctx, api.JobSubmit{Ops: []api.OpCode{api.MustOp(api.OpNodeRemove, api.NodeRemove{Name: "n1"})}})
	if err != nil {
		t.Fatal(err)
	}
	if j, err := c.WaitForJob(ctx, id, nil); err != nil || j.State != api.JobSuccess {
		t.Fatalf("remove: %+v %v", j, err)
	}
	jobs, err := c.ListJobs(ctx, api.JobFilter{States: []api.JobState{api.JobSuccess}, Limit: 2})
	if err != nil || len(jobs) != 2 || jobs[0].ID != id {
		t.Fatalf("list jobs: %d %v", len(jobs), err)
	}
	if err := c.CancelJob(ctx, id); api.CodeOf(err) != api.CodeWrongState {
		t.Fatalf("cancel finished job: %v", err)
	}
	if j, err := c.WaitJob(ctx, id, api.JobSuccess, 100, time.Second); err != nil || j.ID != id {
		t.Fatalf("wait finished job: %v", err)
	}
	// Cancel a queued job: a long job occupies the runner.
	long, err := c.DebugDelay(ctx, api.DebugDelay{Duration: "300ms", Steps: 1})
	if err != nil {
		t.Fatal(err)
	}
	queued, err := c.DebugDelay(ctx, api.DebugDelay{Duration: "0s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CancelJob(ctx, queued); err != nil {
		t.Fatalf("cancel queued: %v", err)
	}
	if j, err := c.GetJob(ctx, queued); err != nil || j.State != api.JobCanceled {
		t.Fatalf("canceled job: %+v %v", j, err)
	}
	if _, err := c.WaitForJob(ctx, long, nil); err != nil {
		t.Fatal(err)
	}

	// Users and tokens.
	u, err := c.AddUser(ctx, api.UserAdd{Name: "alice", Role: api.RoleOperate})
	if err != nil || u.Role != api.RoleOperate {
		t.Fatalf("add user: %+v %v", u, err)
	}
	if _, err := c.AddUser(ctx, api.UserAdd{Name: "alice", Role: api.RoleRead}); api.CodeOf(err) != api.CodeAlreadyExists {
		t.Fatalf("duplicate user: %v", err)
	}
	tok, err := c.IssueToken(ctx, "alice", 2*time.Hour)
	if err != nil || tok.Token == "" || tok.Role != api.RoleOperate {
		t.Fatalf("issue token: %+v %v", tok, err)
	}
	alice := h.ClientFor(t, tok.Token)
	if _, err := alice.ListUsers(ctx); api.CodeOf(err) != api.CodeForbidden {
		t.Fatalf("operator lists users: %v", err)
	}
	toks, err := c.ListTokens(ctx, "alice")
	if err != nil || len(toks) != 1 || toks[0].Token != "" {
		t.Fatalf("list tokens: %+v %v", toks, err)
	}
	if err := alice.RevokeToken(ctx, toks[0].ID); err != nil {
		t.Fatalf("revoke own token: %v", err)
	}
	if _, err := alice.ClusterInfo(ctx); api.CodeOf(err) != api.CodeUnauthorized {
		t.Fatalf("revoked token: %v", err)
	}
	users, err := c.ListUsers(ctx)
	if err != nil || len(users) != 2 {
		t.Fatalf("list users: %+v %v", users, err)
	}
	if err := c.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	var ae *api.Error
	if err := c.RemoveUser(ctx, "alice"); !errors.As(err, &ae) || ae.Code != api.CodeUnknownEntity || ae.Message == "" {
		t.Fatalf("remove twice: %v", err)
	}
}

// deadEndpoint returns the URL of a local port nobody listens on.
func deadEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestClientFailover(t *testing.T) {
	h := apitest.Start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A master that answers 503 unavailable (no quorum), counting its calls.
	var mu sync.Mutex
	unavailableCalls := 0
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		unavailableCalls++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":"unavailable","message":"no quorum"}}`))
	}))
	defer sick.Close()

	for _, tc := range []struct {
		name  string
		first string
	}{
		{"connection refused", deadEndpoint(t)},
		{"503 unavailable", sick.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := api.NewClient([]string{tc.first, h.URL}, h.AdminToken, nil, api.WithDialTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			// A read and a change both reach the second master.
			if _, err := c.ClusterInfo(ctx); err != nil {
				t.Fatalf("read: %v", err)
			}
			if c.Endpoint() != h.URL {
				t.Fatalf("preferred endpoint %s, want %s", c.Endpoint(), h.URL)
			}
			id, err := c.DebugDelay(ctx, api.DebugDelay{Duration: "0s"})
			if err != nil || id == 0 {
				t.Fatalf("change: %d %v", id, err)
			}
		})
	}
	// The client remembered the working master: the sick one was asked once.
	mu.Lock()
	defer mu.Unlock()
	if unavailableCalls != 1 {
		t.Fatalf("sick master asked %d times, want 1", unavailableCalls)
	}
}

func TestClientAllDown(t *testing.T) {
	c, err := api.NewClient([]string{deadEndpoint(t), deadEndpoint(t)}, "x", nil, api.WithDialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ClusterInfo(context.Background())
	if api.CodeOf(err) != api.CodeUnavailable {
		t.Fatalf("all down: %v", err)
	}
}

func TestClientTimeoutFailover(t *testing.T) {
	h := apitest.Start(t, nil)
	// A master that accepts connections but never answers.
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hung.Close()
	defer hung.CloseClientConnections()
	c, err := api.NewClient([]string{hung.URL, h.URL}, h.AdminToken, nil, api.WithTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListNodes(context.Background(), api.NodeQuery{}); err != nil {
		t.Fatalf("read after timeout: %v", err)
	}
	if c.Endpoint() != h.URL {
		t.Fatalf("endpoint %s", c.Endpoint())
	}
}

func TestNewClientErrors(t *testing.T) {
	for _, eps := range [][]string{nil, {""}, {"ftp://x"}, {"http://"}} {
		if _, err := api.NewClient(eps, "", nil); err == nil {
			t.Errorf("NewClient(%q) accepted", eps)
		}
	}
	if _, err := api.NewClient([]string{"https://x"}, "", []byte("not pem")); err == nil {
		t.Error("bad CA accepted")
	}
	c, err := api.NewClient([]string{"10.0.0.1:5080", "https://m2:5080/api/v1/"}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Endpoints()
	if got[0] != "https://10.0.0.1:5080" || got[1] != "https://m2:5080" {
		t.Fatalf("endpoints %v", got)
	}
	if eps := api.ParseEndpoints("https://a:1, https://b:2,,https://c:3"); len(eps) != 3 {
		t.Fatalf("ParseEndpoints: %v", eps)
	}
}

func TestClientTLS(t *testing.T) {
	b, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv := httptest.NewTLSServer(api.NewServer(b, b.Verifier(), nil))
	defer srv.Close()
	tok, err := b.Token("admin", api.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err := api.NewClient([]string{srv.URL}, tok, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ClusterInfo(context.Background()); err != nil {
		t.Fatalf("with CA: %v", err)
	}
	// Without the cluster CA the certificate is refused, and that is not
	// mistaken for a master being down.
	c, err = api.NewClient([]string{srv.URL}, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ClusterInfo(context.Background())
	if err == nil || api.CodeOf(err) == api.CodeUnavailable {
		t.Fatalf("without CA: %v", err)
	}
}

// TestWaitForJobSurvivesMasterLoss runs two "masters" over one backend (as
// masters share etcd) and kills the one the client long-polls: WaitForJob
// moves on to the other and sees the job finish.
func TestWaitForJobSurvivesMasterLoss(t *testing.T) {
	b, err := apitest.New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := api.NewServer(b, b.Verifier(), nil)
	m1, m2 := httptest.NewServer(h), httptest.NewServer(h)
	defer m2.Close()
	tok, err := b.Token("op", api.RoleOperate, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient([]string{m1.URL, m2.URL}, tok, nil, api.WithDialTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := c.DebugDelay(ctx, api.DebugDelay{Duration: "600ms", Steps: 3})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	var once sync.Once
	type result struct {
		j   *api.Job
		err error
	}
	done := make(chan result, 1)
	go func() {
		j, err := c.WaitForJob(ctx, id, func(*api.Job) { once.Do(func() { close(first) }) })
		done <- result{j, err}
	}()
	<-first
	time.Sleep(50 * time.Millisecond) // let the long poll start on m1
	m1.CloseClientConnections()
	m1.Close()
	r := <-done
	if r.err != nil || r.j.State != api.JobSuccess {
		t.Fatalf("WaitForJob: %+v %v", r.j, r.err)
	}
	if c.Endpoint() != m2.URL {
		t.Fatalf("endpoint %s, want %s", c.Endpoint(), m2.URL)
	}
}
