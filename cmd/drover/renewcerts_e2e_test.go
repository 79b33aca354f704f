package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

// servedSerial is the serial of the certificate addr presents (client
// certificates are not offered: the server's arrives before it asks).
func servedSerial(addr string) string {
	var serial string
	cfg := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if c, err := x509.ParseCertificate(raw[0]); err == nil {
				serial = c.SerialNumber.String()
			}
			return nil
		}}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err == nil {
		conn.Close()
	}
	return serial
}

// TestClusterRenewCerts: renew-certs gives the running master a new
// certificate on its API and etcd ports without a restart; the cluster
// keeps working through it (same master pid, jobs run).
func TestClusterRenewCerts(t *testing.T) {
	lc := startLocal(t, 1, 1, "127.0.24")
	waitFor(t, 60*time.Second, "node1 online", func() bool { return lc.nodeStatus()["node1"] == "online" })
	api, etcd := "127.0.241.1:5080", "127.0.241.1:2379"
	oldAPI, oldEtcd := servedSerial(api), servedSerial(etcd)
	if oldAPI == "" || oldAPI != oldEtcd {
		t.Fatalf("serials before: api %q etcd %q", oldAPI, oldEtcd)
	}
	pid := lc.pid("m1")
	out := lc.mustCLI("cluster", "renew-certs", "--dir", lc.dir)
	if !strings.Contains(out, "Renewed the certificate of master m1") {
		t.Fatalf("renew-certs: %s", out)
	}
	waitFor(t, 30*time.Second, "the new certificate on the API and etcd ports", func() bool {
		a, e := servedSerial(api), servedSerial(etcd)
		return a != "" && a != oldAPI && a == e
	})
	if lc.pid("m1") != pid {
		t.Errorf("the master restarted")
	}
	lc.jobWorks("after renew-certs")
	waitFor(t, 30*time.Second, "node1 still online", func() bool { return lc.nodeStatus()["node1"] == "online" })
}
