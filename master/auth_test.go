package master_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

func TestNodeEtcdUserIsConfined(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{})
	m := c.Masters[0].M
	for _, n := range []string{"n1", "n2"} {
		id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: n}))
		if j := mastertest.WaitJob(t, m, id, 10*time.Second); j.State != api.JobSuccess {
			t.Fatalf("add %s: %+v", n, j)
		}
	}
	creds, err := m.NodeCredentials(ctx(t), "n1")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(creds.CACert)) || !strings.HasPrefix(creds.EtcdUser, "node.n1@") || creds.LeaseTTL != 5 ||
		creds.EtcdPassword != "" || creds.EtcdCert == "" {
		t.Fatalf("credentials %+v", creds)
	}
	// The certificate's CN is the etcd user; no password, no token.
	blk, _ := pem.Decode([]byte(creds.EtcdCert))
	if blk == nil {
		t.Fatal("no certificate in the credentials")
	}
	if cert, err := x509.ParseCertificate(blk.Bytes); err != nil || cert.Subject.CommonName != creds.EtcdUser {
		t.Fatalf("client certificate CN %v (%v), want %s", cert.Subject.CommonName, err, creds.EtcdUser)
	}
	certClient := func(cr *api.NodeCredentials) *clientv3.Client {
		t.Helper()
		pair, err := tls.X509KeyPair([]byte(cr.EtcdCert), []byte(cr.EtcdKey))
		if err != nil {
			t.Fatal(err)
		}
		c, err := clientv3.New(clientv3.Config{
			Endpoints: cr.EtcdEndpoints, TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}},
			DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	nc := certClient(creds)
	// Without a client certificate etcd refuses the connection.
	if bare, err := clientv3.New(clientv3.Config{Endpoints: creds.EtcdEndpoints, TLS: &tls.Config{RootCAs: pool},
		DialTimeout: 2 * time.Second, Logger: zap.NewNop()}); err == nil {
		cx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if _, err := bare.Get(cx, keys.ClusterKey); err == nil {
			t.Error("a client without certificate may read")
		}
		cancel()
		bare.Close()
	}
	cx := ctx(t)
	lease, err := nc.Grant(cx, 5)
	if err != nil {
		t.Fatalf("grant: %v", err)
	}
	st, _ := json.Marshal(keys.NodeStatus{Hypervisor: "fake", HypervisorOK: true, Resources: api.NodeResources{CPUs: 4}, PublishedAt: time.Now()})
	if _, err := nc.Put(cx, keys.NodeStatusKey("n1"), string(st), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatalf("own status: %v", err)
	}
	if _, err := nc.Get(cx, keys.NodeKey("n1")); err != nil {
		t.Fatalf("read own record: %v", err)
	}
	if _, err := nc.Get(cx, keys.ClusterKey); err != nil {
		t.Fatalf("read cluster: %v", err)
	}
	denied := map[string]func(context.Context) error{
		"write other status": func(cx context.Context) error {
			_, err := nc.Put(cx, keys.NodeStatusKey("n2"), "{}")
			return err
		},
		"write own record":  func(cx context.Context) error { _, err := nc.Put(cx, keys.NodeKey("n1"), "{}"); return err },
		"read other record": func(cx context.Context) error { _, err := nc.Get(cx, keys.NodeKey("n2")); return err },
		"read jwt key":      func(cx context.Context) error { _, err := nc.Get(cx, keys.JWTKey); return err },
		"read jobs": func(cx context.Context) error {
			_, err := nc.Get(cx, keys.JobsPrefix, clientv3.WithPrefix())
			return err
		},
	}
	for name, f := range denied {
		if err := f(cx); err == nil {
			t.Errorf("%s: allowed", name)
		}
	}
	n, err := m.GetNode(cx, "n1")
	if err != nil || n.Status != api.NodeOnline || n.Hypervisor != "fake" || n.Resources.CPUs != 4 {
		t.Fatalf("node n1 %+v %v", n, err)
	}
	rep, _ := m.ClusterVerify(cx)
	if rep.OK || !hasFinding(rep, "ENODEUNREACHABLE") {
		t.Fatalf("verify %+v", rep)
	}
	// Rotation: the old certificate stops working at once, even on its open
	// connection; the new one works.
	creds2, err := m.NodeCredentials(cx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Revoke(cx, lease.ID); err != nil {
		t.Logf("revoke after rotation: %v", err)
	}
	if _, err := nc.Get(cx, keys.NodeKey("n1")); err == nil {
		t.Fatal("old certificate still accepted after rotation")
	}
	if _, err := certClient(creds2).Get(cx, keys.NodeKey("n1")); err != nil {
		t.Fatalf("new certificate: %v", err)
	}
	// Remove: the user and role are gone.
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeRemove, api.NodeRemove{Name: "n1"}))
	if j := mastertest.WaitJob(t, m, id, 10*time.Second); j.State != api.JobSuccess {
		t.Fatalf("remove: %+v", j)
	}
	if _, err := m.Client().UserGet(cx, creds2.EtcdUser); err == nil {
		t.Fatal("etcd user of node n1 survived node remove")
	}
	if _, err := m.Client().RoleGet(cx, "node.n1"); err == nil {
		t.Fatal("etcd role node.n1 survived node remove")
	}
}

func TestTokensAndUsers(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{})
	m := c.Masters[0].M
	cx := ctx(t)
	_, admin := c.AdminToken()
	if err := m.CheckToken(cx, admin); err != nil {
		t.Fatalf("admin token: %v", err)
	}
	if _, err := m.AddUser(cx, api.UserAdd{Name: "alice", Role: api.RoleOperate}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddUser(cx, api.UserAdd{Name: "alice", Role: api.RoleRead}); api.CodeOf(err) != api.CodeAlreadyExists {
		t.Fatalf("dup user: %v", err)
	}
	for _, bad := range []api.UserAdd{{Name: "Bad Name", Role: api.RoleRead}, {Name: "bob", Role: "root"}} {
		if _, err := m.AddUser(cx, bad); api.CodeOf(err) != api.CodeWrongInput {
			t.Fatalf("bad user %+v: %v", bad, err)
		}
	}
	tok, err := m.IssueToken(cx, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Verifier().Verify(tok.Token, time.Now())
	if err != nil || p.User != "alice" || p.Role != api.RoleOperate || p.TokenID != tok.ID {
		t.Fatalf("verify issued token: %+v %v", p, err)
	}
	if err := m.CheckToken(cx, p); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	if _, err := m.IssueToken(cx, "nobody", time.Hour); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Fatalf("token for unknown user: %v", err)
	}
	if _, err := m.IssueToken(cx, "alice", 10000*time.Hour); api.CodeOf(err) != api.CodeWrongInput {
		t.Fatalf("token TTL too long: %v", err)
	}
	if err := m.RevokeToken(cx, tok.ID); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, m.CheckToken, p)
	toks, _ := m.ListTokens(cx, "alice")
	if len(toks) != 1 || !toks[0].Revoked || toks[0].Token != "" {
		t.Fatalf("tokens %+v", toks)
	}
	tok2, _ := m.IssueToken(cx, "alice", time.Hour)
	p2, _ := m.Verifier().Verify(tok2.Token, time.Now())
	if err := m.CheckToken(cx, p2); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveUser(cx, "alice"); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, m.CheckToken, p2)
	if err := m.RemoveUser(cx, "admin"); api.CodeOf(err) != api.CodeWrongState {
		t.Fatalf("remove last admin: %v", err)
	}
	if err := m.RemoveUser(cx, "alice"); api.CodeOf(err) != api.CodeUnknownEntity {
		t.Fatalf("remove removed user: %v", err)
	}
	forged := api.Principal{User: "admin", Role: api.RoleAdmin, TokenID: "unknown"}
	if err := m.CheckToken(cx, forged); api.CodeOf(err) != api.CodeUnauthorized {
		t.Fatalf("unknown jti: %v", err)
	}
}

func waitRefused(t *testing.T, check func(context.Context, api.Principal) error, p api.Principal) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := check(ctx(t), p); api.CodeOf(err) == api.CodeUnauthorized {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("token %s still accepted", p.TokenID)
}

func TestArchive(t *testing.T) {
	c := mastertest.Start(t, mastertest.Options{JobArchiveAge: 100 * time.Millisecond, ArchiveInterval: 100 * time.Millisecond})
	m := c.Masters[0].M
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpDebugDelay, api.DebugDelay{Duration: "0s"}))
	mastertest.WaitJob(t, m, id, 5*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := m.GetJob(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Archived {
			if j.State != api.JobSuccess {
				t.Fatalf("archived job %+v", j)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job not archived")
		}
		time.Sleep(50 * time.Millisecond)
	}
	live, _ := m.ListJobs(ctx(t), api.JobFilter{})
	all, _ := m.ListJobs(ctx(t), api.JobFilter{Archived: true})
	if len(live) != 0 || len(all) != 1 || !all[0].Archived {
		t.Fatalf("live %d, with archive %d", len(live), len(all))
	}
}
