package master

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"time"
)

// certValidity is how long the CA and master certificates are valid.
const certValidity = 10 * 365 * 24 * time.Hour

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// newCA makes a self-signed ECDSA P-256 CA.
func newCA(clusterName string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("CA serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "drover CA " + clusterName, Organization: []string{"drover"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse CA: %w", err)
	}
	return cert, key, der, nil
}

// newLeafCert makes a certificate for a master, usable as TLS server and client
// (etcd peers authenticate each other with it), with SANs name, its IP (and
// the cluster IP, when given), localhost and 127.0.0.1.
func newLeafCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, ip ...string) (certPEM, keyPEM []byte, err error) {
	ips := []net.IP{net.ParseIP("127.0.0.1")}
	for _, a := range ip {
		if p := net.ParseIP(a); p != nil && !slices.ContainsFunc(ips, p.Equal) {
			ips = append(ips, p)
		}
	}
	return signLeaf(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"drover"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{name, "localhost"},
		IPAddresses: ips,
	}, certValidity)
}

// newClientCert makes a TLS client certificate whose CN is the etcd user
// user: etcd started with client certificate authentication maps the CN to
// that user, so the holder needs no password and no (expiring) auth token.
func newClientCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, user string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	return signLeaf(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: []string{"drover"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, validity)
}

// signLeaf fills in a fresh key, serial, validity and key usage and signs
// tmpl with the CA.
func signLeaf(ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	name := tmpl.Subject.CommonName
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key for %s: %w", name, err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, fmt.Errorf("serial for %s: %w", name, err)
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(validity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate for %s: %w", name, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key for %s: %w", name, err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", kder), nil
}

// loadCA reads the cluster CA and its key from the cluster directory.
func loadCA(d *ClusterDir) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := d.readFile(d.CAFile())
	if err != nil {
		return nil, nil, err
	}
	kb, err := d.readFile(d.CAKeyFile())
	if err != nil {
		return nil, nil, err
	}
	pair, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: CA: %w", ErrClusterDir, err)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: CA: %w", ErrClusterDir, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("%w: CA key is not ECDSA", ErrClusterDir)
	}
	return ca, key, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// certPool reads a PEM CA file into a pool.
func certPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: no certificate in %s", ErrClusterDir, caFile)
	}
	return pool, nil
}

// clientTLS is the TLS config masters use to reach etcd and each other. With
// a client certificate (PEM pair) it is presented to etcd, which then
// authenticates the client by the certificate's CN.
func clientTLS(caFile string, certPEM, keyPEM []byte) (*tls.Config, error) {
	pool, err := certPool(caFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}
