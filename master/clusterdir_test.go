package master_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/keys"
)

func TestInitAndLoadClusterDir(t *testing.T) {
	dir := t.TempDir()
	opts := master.InitOptions{Name: "c1", Masters: []keys.MasterSpec{
		{Name: "m1", IP: "127.0.1.1"}, {Name: "m2", IP: "127.0.1.2"}, {Name: "m3", IP: "127.0.1.3"},
	}}
	if err := master.InitClusterDir(dir, opts); err != nil {
		t.Fatal(err)
	}
	if err := master.InitClusterDir(dir, opts); !errors.Is(err, master.ErrExists) {
		t.Fatalf("second init: %v, want ErrExists", err)
	}
	d, err := master.LoadClusterDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Cluster.Name != "c1" || d.Cluster.UUID == "" || len(d.Cluster.Masters) != 3 ||
		d.Cluster.Masters[1].APIPort != master.DefaultAPIPort || d.Cluster.NodeLeaseTTL != master.DefaultNodeLeaseTTL {
		t.Fatalf("cluster record: %+v", d.Cluster)
	}
	// The master certificate verifies against the CA for its IP.
	caPEM, _ := os.ReadFile(d.CAFile())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	certPEM, _ := os.ReadFile(d.CertFile("m2"))
	blk, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Fatalf("verify cert: %v", err)
	}
	if err := cert.VerifyHostname("127.0.1.2"); err != nil {
		t.Fatalf("IP SAN: %v", err)
	}
	if !cert.IPAddresses[len(cert.IPAddresses)-1].Equal(net.ParseIP("127.0.1.2")) {
		t.Fatalf("IP SANs %v", cert.IPAddresses)
	}
	// The admin token verifies with the cluster's key, issuer and audience.
	key, err := d.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	tok, rec, err := d.AdminToken()
	if err != nil {
		t.Fatal(err)
	}
	p, err := api.NewVerifier(key.Public().(ed25519.PublicKey), "drover:c1", "drover-api").Verify(tok, time.Now())
	if err != nil {
		t.Fatalf("verify admin token: %v", err)
	}
	if p.User != "admin" || p.Role != api.RoleAdmin || p.TokenID != rec.ID || rec.ExpiresAt.Before(time.Now().Add(300*24*time.Hour)) {
		t.Fatalf("admin token %+v %+v", p, rec)
	}
	if st, _ := os.Stat(d.RootPasswordFile()); st.Mode().Perm() != 0o600 {
		t.Fatalf("etcd-root mode %v", st.Mode())
	}
}

func TestInitRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]master.InitOptions{
		"no name":    {Masters: []keys.MasterSpec{{Name: "m1", IP: "127.0.0.1"}}},
		"no masters": {Name: "c"},
		"bad ip":     {Name: "c", Masters: []keys.MasterSpec{{Name: "m1", IP: "x"}}},
		"dup":        {Name: "c", Masters: []keys.MasterSpec{{Name: "m1", IP: "127.0.0.1"}, {Name: "m1", IP: "127.0.0.2"}}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := master.InitClusterDir(t.TempDir(), o); !errors.Is(err, master.ErrClusterDir) {
				t.Fatalf("got %v", err)
			}
		})
	}
}
