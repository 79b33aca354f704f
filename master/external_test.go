package master_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/mastertest"
)

// TestExternalEtcd runs a master against an etcd it does not embed
// (Config.EtcdEndpoints): it bootstraps auth and records and runs jobs.
func TestExternalEtcd(t *testing.T) {
	dir := t.TempDir()
	p := mastertest.FreePorts(t, 3)
	err := master.InitClusterDir(dir, master.InitOptions{Name: "ext", Masters: []keys.MasterSpec{
		{Name: "m1", IP: "127.0.0.1", APIPort: p[0], ClientPort: p[1], PeerPort: p[2]},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The external etcd serves TLS with a certificate of the cluster CA.
	ec := embed.NewConfig()
	ec.Name, ec.Dir = "ext", filepath.Join(dir, "external-etcd")
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	ec.BcryptCost = uint(bcrypt.MinCost) // every auth change makes clients log in again
	cu, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d", p[1]))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", p[2]))
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	ec.InitialCluster = "ext=" + pu.String()
	ec.ClientTLSInfo = transport.TLSInfo{CertFile: filepath.Join(dir, "pki", "m1.crt"), KeyFile: filepath.Join(dir, "pki", "m1.key")}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("external etcd not ready")
	}
	m, err := master.New(master.Config{Dir: dir, Name: "m1", APIListen: "-", EtcdEndpoints: []string{cu.String()}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-m.Ready():
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("master not ready")
	}
	deadline := time.Now().Add(10 * time.Second)
	for ok, _ := m.Leading(); !ok; ok, _ = m.Leading() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	id := mastertest.Submit(t, m, 0, mastertest.Op(t, api.OpNodeAdd, api.NodeAdd{Name: "n1"}))
	if j := mastertest.WaitJob(t, m, id, 10*time.Second); j.State != api.JobSuccess {
		t.Fatalf("job %+v", j)
	}
	st, err := m.Client().AuthStatus(ctx(t))
	if err != nil || !st.Enabled {
		t.Fatalf("auth status %+v %v", st, err)
	}
	ci, err := m.ClusterInfo(ctx(t))
	if err != nil || ci.Leader != "m1" || !ci.Masters[0].Healthy {
		t.Fatalf("info %+v %v", ci, err)
	}
}
