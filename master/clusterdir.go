package master

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// Defaults of a new cluster.
const (
	DefaultAPIPort       = 5080
	DefaultClientPort    = 2379
	DefaultPeerPort      = 2380
	DefaultMACPrefix     = "aa:00:00"
	DefaultNodeLeaseTTL  = 5
	DefaultAdminTokenTTL = 365 * 24 * time.Hour
	// TokenAudience is the audience of every API token.
	TokenAudience = "drover-api"
	// AdminUser is the user created at init.
	AdminUser = "admin"
)

// InitOptions describe a new cluster.
type InitOptions struct {
	// Name of the cluster (required).
	Name string
	// Masters of the cluster (at least one). Zero ports get the defaults.
	Masters []keys.MasterSpec
	// MACPrefix defaults to DefaultMACPrefix.
	MACPrefix string
	// NodeLeaseTTL in seconds, default DefaultNodeLeaseTTL.
	NodeLeaseTTL int
	// AdminTokenTTL defaults to one year.
	AdminTokenTTL time.Duration
	// ClusterIP ("ADDR/PREFIX") and ClusterIPDev: the floating address of
	// the leader (docs/ha.md, "Floating addresses"); none by default.
	ClusterIP, ClusterIPDev string
}

// ClusterDir is a loaded cluster directory (see docs/architecture.md).
type ClusterDir struct {
	// Dir is the directory.
	Dir string
	// Cluster is the content of cluster.json.
	Cluster keys.ClusterRecord
}

// Paths inside a cluster directory.
func (d *ClusterDir) CAFile() string           { return filepath.Join(d.Dir, "pki", "ca.crt") }
func (d *ClusterDir) CAKeyFile() string        { return filepath.Join(d.Dir, "pki", "ca.key") }
func (d *ClusterDir) CertFile(m string) string { return filepath.Join(d.Dir, "pki", m+".crt") }
func (d *ClusterDir) KeyFile(m string) string  { return filepath.Join(d.Dir, "pki", m+".key") }
func (d *ClusterDir) JWTKeyFile() string       { return filepath.Join(d.Dir, "secrets", "jwt.key") }
func (d *ClusterDir) RootPasswordFile() string { return filepath.Join(d.Dir, "secrets", "etcd-root") }
func (d *ClusterDir) AdminTokenFile() string   { return filepath.Join(d.Dir, "admin.token") }
func (d *ClusterDir) DataDir(m string) string  { return filepath.Join(d.Dir, "data", m) }
func (d *ClusterDir) clusterFile() string      { return filepath.Join(d.Dir, "cluster.json") }
func (d *ClusterDir) Issuer() string           { return "drover:" + d.Cluster.Name }
func (d *ClusterDir) readFile(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClusterDir, err)
	}
	return b, nil
}

// Master returns the spec of master name.
func (d *ClusterDir) Master(name string) (keys.MasterSpec, error) {
	for _, m := range d.Cluster.Masters {
		if m.Name == name {
			return m, nil
		}
	}
	return keys.MasterSpec{}, fmt.Errorf("%w: %q", ErrUnknownMaster, name)
}

// ClientURLs are the etcd client URLs of every master.
func (d *ClusterDir) ClientURLs() []string {
	var out []string
	for _, m := range d.Cluster.Masters {
		out = append(out, "https://"+net.JoinHostPort(m.IP, fmt.Sprint(m.ClientPort)))
	}
	return out
}

// APIURLs are the API URLs of every master.
func (d *ClusterDir) APIURLs() []string {
	var out []string
	for _, m := range d.Cluster.Masters {
		out = append(out, apiURL(m))
	}
	return out
}

func apiURL(m keys.MasterSpec) string {
	return "https://" + net.JoinHostPort(m.IP, fmt.Sprint(m.APIPort))
}

// RootPassword reads the etcd root password.
func (d *ClusterDir) RootPassword() (string, error) {
	b, err := d.readFile(d.RootPasswordFile())
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// SigningKey reads the token signing key.
func (d *ClusterDir) SigningKey() (ed25519.PrivateKey, error) {
	b, err := d.readFile(d.JWTKeyFile())
	if err != nil {
		return nil, err
	}
	k, err := api.ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClusterDir, err)
	}
	return k, nil
}

// AdminToken reads admin.token and returns it with its metadata.
func (d *ClusterDir) AdminToken() (string, keys.TokenRecord, error) {
	b, err := d.readFile(d.AdminTokenFile())
	if err != nil {
		return "", keys.TokenRecord{}, err
	}
	tok := strings.TrimSpace(string(b))
	var c api.TokenClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		return "", keys.TokenRecord{}, fmt.Errorf("%w: admin token: %w", ErrClusterDir, err)
	}
	rec := keys.TokenRecord{ID: c.ID, User: c.Subject, Role: c.Role}
	if c.IssuedAt != nil {
		rec.IssuedAt = c.IssuedAt.Time
	}
	if c.ExpiresAt != nil {
		rec.ExpiresAt = c.ExpiresAt.Time
	}
	return tok, rec, nil
}

// LoadClusterDir reads dir/cluster.json and checks the files a master needs.
func LoadClusterDir(dir string) (*ClusterDir, error) {
	d := &ClusterDir{Dir: dir}
	b, err := d.readFile(d.clusterFile())
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &d.Cluster); err != nil {
		return nil, fmt.Errorf("%w: cluster.json: %w", ErrClusterDir, err)
	}
	if d.Cluster.Name == "" || len(d.Cluster.Masters) == 0 {
		return nil, fmt.Errorf("%w: cluster.json without name or masters", ErrClusterDir)
	}
	for _, p := range []string{d.CAFile(), d.JWTKeyFile(), d.RootPasswordFile()} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrClusterDir, err)
		}
	}
	return d, nil
}

func (o *InitOptions) normalize() error {
	if o.Name == "" {
		return fmt.Errorf("%w: cluster name required", ErrClusterDir)
	}
	if len(o.Masters) == 0 {
		return fmt.Errorf("%w: at least one master required", ErrClusterDir)
	}
	seen := map[string]bool{}
	for i := range o.Masters {
		m := &o.Masters[i]
		if m.Name == "" || seen[m.Name] || strings.ContainsAny(m.Name, "/ ") {
			return fmt.Errorf("%w: bad or duplicate master name %q", ErrClusterDir, m.Name)
		}
		seen[m.Name] = true
		if net.ParseIP(m.IP) == nil {
			return fmt.Errorf("%w: master %s: bad IP %q", ErrClusterDir, m.Name, m.IP)
		}
		if m.APIPort == 0 {
			m.APIPort = DefaultAPIPort
		}
		if m.ClientPort == 0 {
			m.ClientPort = DefaultClientPort
		}
		if m.PeerPort == 0 {
			m.PeerPort = DefaultPeerPort
		}
	}
	if err := api.ValidClusterIP(o.ClusterIP, o.ClusterIPDev, true, true); err != nil {
		return fmt.Errorf("%w: %w", ErrClusterDir, err)
	}
	if o.MACPrefix == "" {
		o.MACPrefix = DefaultMACPrefix
	}
	if o.NodeLeaseTTL <= 0 {
		o.NodeLeaseTTL = DefaultNodeLeaseTTL
	}
	if o.AdminTokenTTL <= 0 {
		o.AdminTokenTTL = DefaultAdminTokenTTL
	}
	return nil
}

// InitClusterDir writes a new cluster directory: cluster.json, the PKI, the
// secrets and an admin token. It refuses a directory that already has a
// cluster.json. Masters bootstrap etcd from it on their first start.
func InitClusterDir(dir string, opts InitOptions) error {
	if err := opts.normalize(); err != nil {
		return err
	}
	d := &ClusterDir{Dir: dir, Cluster: keys.ClusterRecord{
		Name:         opts.Name,
		UUID:         uuid.NewString(),
		CreatedAt:    time.Now().UTC().Truncate(time.Second),
		MACPrefix:    opts.MACPrefix,
		Masters:      opts.Masters,
		NodeLeaseTTL: opts.NodeLeaseTTL,
		ClusterIP:    opts.ClusterIP, ClusterIPDev: opts.ClusterIPDev,
	}}
	if _, err := os.Stat(d.clusterFile()); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("init cluster dir: %w", err)
	}
	for _, sub := range []string{"pki", "secrets", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("init cluster dir: %w", err)
		}
	}
	files := map[string][]byte{}
	ca, caKey, caDER, err := newCA(opts.Name)
	if err != nil {
		return fmt.Errorf("init cluster dir: %w", err)
	}
	caKeyDER, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		return fmt.Errorf("init cluster dir: %w", err)
	}
	files[d.CAFile()] = pemBlock("CERTIFICATE", caDER)
	files[d.CAKeyFile()] = pemBlock("EC PRIVATE KEY", caKeyDER)
	for _, m := range opts.Masters {
		c, k, err := newLeafCert(ca, caKey, m.Name, m.IP, d.Cluster.ClusterIPAddr())
		if err != nil {
			return fmt.Errorf("init cluster dir: %w", err)
		}
		files[d.CertFile(m.Name)], files[d.KeyFile(m.Name)] = c, k
	}
	_, jwtKey, err := api.GenerateSigningKey()
	if err != nil {
		return fmt.Errorf("init cluster dir: %w", err)
	}
	if files[d.JWTKeyFile()], err = api.MarshalPrivateKeyPEM(jwtKey); err != nil {
		return fmt.Errorf("init cluster dir: %w", err)
	}
	files[d.RootPasswordFile()] = []byte(randomSecret(24) + "\n")
	now := time.Now()
	tok, err := api.NewSigner(jwtKey, d.Issuer(), TokenAudience).
		Sign(AdminUser, api.RoleAdmin, newTokenID(), now, now.Add(opts.AdminTokenTTL))
	if err != nil {
		return fmt.Errorf("init cluster dir: sign admin token: %w", err)
	}
	files[d.AdminTokenFile()] = []byte(tok + "\n")
	cj, err := json.MarshalIndent(d.Cluster, "", "  ")
	if err != nil {
		return fmt.Errorf("init cluster dir: %w", err)
	}
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return fmt.Errorf("init cluster dir: %w", err)
		}
	}
	// cluster.json last: its presence marks a complete directory.
	if err := os.WriteFile(d.clusterFile(), append(cj, '\n'), 0o644); err != nil {
		return fmt.Errorf("init cluster dir: %w", err)
	}
	return nil
}

// randomSecret returns n random bytes, hex encoded.
func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// newTokenID returns a random token id (jti).
func newTokenID() string { return randomSecret(16) }
