package master

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/crypto/bcrypt"
)

// startEtcd starts this master's embedded etcd member and waits until it is
// ready or the deadline passes.
func startEtcd(ctx context.Context, d *ClusterDir, cfg Config) (*embed.Etcd, error) {
	me, err := d.Master(cfg.Name)
	if err != nil {
		return nil, err
	}
	ec := embed.NewConfig()
	ec.Name = me.Name
	ec.Dir = d.DataDir(me.Name)
	ec.TickMs, ec.ElectionMs = cfg.TickMs, cfg.ElectionMs
	if _, err := zapcore.ParseLevel(cfg.EtcdLogLevel); err == nil {
		ec.LogLevel = cfg.EtcdLogLevel
	}
	ec.BcryptCost = uint(bcrypt.MinCost)
	ec.InitialClusterToken = "drover-" + d.Cluster.UUID
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = cfg.EtcdCompactionRetention.String()
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdLogger(cfg.EtcdLogLevel))
	cu := mustURL("https://" + net.JoinHostPort(me.IP, fmt.Sprint(me.ClientPort)))
	pu := mustURL("https://" + net.JoinHostPort(me.IP, fmt.Sprint(me.PeerPort)))
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	ec.InitialCluster = initialCluster(d.Cluster.Masters)
	if d.joining(me.Name) {
		ec.ClusterState = embed.ClusterStateFlagExisting // drover cluster add-master
	}
	// Clients authenticate with certificates signed by the cluster CA: etcd
	// maps the certificate's CN to the etcd user (root for the masters,
	// node.NAME for agents), so no client holds an auth token that could
	// expire under it (docs/fencing.md).
	ec.ClientTLSInfo = transport.TLSInfo{
		CertFile:       d.CertFile(me.Name),
		KeyFile:        d.KeyFile(me.Name),
		TrustedCAFile:  d.CAFile(),
		ClientCertAuth: true,
	}
	ec.PeerTLSInfo = transport.TLSInfo{
		CertFile:       d.CertFile(me.Name),
		KeyFile:        d.KeyFile(me.Name),
		TrustedCAFile:  d.CAFile(),
		ClientCertAuth: true,
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd %s: %w", me.Name, err)
	}
	t := time.NewTimer(cfg.EtcdReadyTimeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd %s: %w", me.Name, err)
	case <-t.C:
		e.Close()
		return nil, fmt.Errorf("%w: %s after %v", ErrEtcdNotReady, me.Name, cfg.EtcdReadyTimeout)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("embedded etcd %s: %w", me.Name, ctx.Err())
	}
}

// etcdLogger is the embedded member's logger: JSON on stderr at level, or
// nothing for "none" or an unknown level.
func etcdLogger(level string) *zap.Logger {
	lvl, err := zapcore.ParseLevel(level)
	if level == "none" || err != nil {
		return zap.NewNop()
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Sampling = nil
	l, err := zc.Build()
	if err != nil {
		return zap.NewNop()
	}
	return l
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err) // built from validated IPs and ports
	}
	return *u
}

// rootCertValidity is how long a master's in-memory root client certificate
// is valid; a new one is made at every start.
const rootCertValidity = 365 * 24 * time.Hour

// newClient connects to etcd as root. With rootCert (the embedded members,
// which authenticate clients by certificate) it presents a client
// certificate with CN root, made from the cluster CA for this process;
// otherwise (an external etcd) it logs in with the root password.
func newClient(d *ClusterDir, endpoints []string, password string, rootCert bool) (*clientv3.Client, error) {
	var certPEM, keyPEM []byte
	if rootCert {
		ca, caKey, err := loadCA(d)
		if err != nil {
			return nil, err
		}
		if certPEM, keyPEM, err = newClientCert(ca, caKey, "root", rootCertValidity); err != nil {
			return nil, err
		}
	}
	tc, err := clientTLS(d.CAFile(), certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	cfg := clientv3.Config{
		Endpoints:            endpoints,
		TLS:                  tc,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Logger:               zap.NewNop(),
	}
	if !rootCert {
		cfg.Username, cfg.Password = "root", password
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return c, nil
}
