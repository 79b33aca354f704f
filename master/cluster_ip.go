package master

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sys/unix"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/floatip"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// clusterIPConfig is the cluster record's floating address (zero: none).
type clusterIPConfig struct {
	addr netip.Prefix
	dev  string
}

func (c clusterIPConfig) set() bool { return c.addr.IsValid() && c.dev != "" }

// clusterIPOf reads a cluster record's floating address; a malformed one
// (the record is checked when written) counts as none.
func clusterIPOf(rec keys.ClusterRecord) clusterIPConfig {
	p, err := api.ParseFloatingIP(rec.ClusterIP)
	if err != nil || rec.ClusterIPDev == "" {
		return clusterIPConfig{}
	}
	return clusterIPConfig{addr: p, dev: rec.ClusterIPDev}
}

// watchClusterIP sends the cluster IP now and after every change of the
// cluster record, until ctx ends (then it closes the channel). Read
// failures are retried.
func (m *Master) watchClusterIP(ctx context.Context) <-chan clusterIPConfig {
	out := make(chan clusterIPConfig, 1)
	go func() {
		defer close(out)
		for ctx.Err() == nil {
			var rec keys.ClusterRecord
			rev, err := store.GetJSON(ctx, m.client, keys.ClusterKey, &rec)
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
				continue
			}
			if !sendLatest(ctx, out, clusterIPOf(rec)) {
				return
			}
			wch := m.client.Watch(clientv3.WithRequireLeader(ctx), keys.ClusterKey, clientv3.WithRev(rev+1))
			for wr := range wch {
				if wr.Err() != nil {
					break
				}
				if len(wr.Events) > 0 {
					break // read it again
				}
			}
		}
	}()
	return out
}

// sendLatest replaces what out holds with v; false when ctx ended.
func sendLatest[T any](ctx context.Context, out chan T, v T) bool {
	select {
	case <-out:
	default:
	}
	select {
	case out <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

// clearStaleClusterIP removes the cluster IP from its device at start: this
// master does not lead yet, so whatever holds the address there (an
// operator, an older version that put it on the device itself) must not.
func (m *Master) clearStaleClusterIP(ctx context.Context) {
	var rec keys.ClusterRecord
	if _, err := store.GetJSON(ctx, m.client, keys.ClusterKey, &rec); err != nil {
		return
	}
	c := clusterIPOf(rec)
	if !c.set() {
		return
	}
	removed, err := floatip.DelAddr(ctx, c.dev, c.addr.Addr())
	if err != nil {
		m.log.Warn("cluster_ip_stale_remove_failed", "address", c.addr.String(), "dev", c.dev, "error", err)
	} else if removed {
		m.log.Warn("cluster_ip_stale_removed", "address", c.addr.String(), "dev", c.dev)
	}
}

// serveClusterIP lets srv also answer on the cluster IP (at the master's
// API port): every master listens there with IP_FREEBIND, so the listener
// exists before the address is local and takes connections from the moment
// this master holds it. It follows changes of the cluster record. Where
// several masters share one host (local up), only one can listen on the
// address and port: the others retry every second (logged once), so one
// of them listens again as soon as a killed master's socket is gone.
func (m *Master) serveClusterIP(ctx context.Context, srv *http.Server) {
	var cur clusterIPConfig
	var ln net.Listener
	var retry <-chan time.Time
	warned := false
	defer func() {
		if ln != nil {
			_ = ln.Close()
		}
	}()
	listen := func() {
		retry = nil
		addr := net.JoinHostPort(cur.addr.Addr().String(), strconv.Itoa(m.me.APIPort))
		l, err := freebindListen(ctx, addr)
		if err != nil {
			if !warned {
				m.log.Warn("cluster_ip_listen_failed", "address", addr, "error", err, "retry", "every second")
				warned = true
			}
			retry = time.After(time.Second)
			return
		}
		if warned {
			m.log.Info("cluster_ip_listening", "address", addr)
		}
		ln = l
		go func() { _ = srv.ServeTLS(l, "", "") }()
	}
	updates := m.watchClusterIP(ctx)
	for {
		select {
		case c, ok := <-updates:
			if !ok {
				return
			}
			if c == cur {
				continue
			}
			if ln != nil {
				_ = ln.Close()
				ln = nil
			}
			cur, retry, warned = c, nil, false
			if c.set() {
				listen()
			}
		case <-retry:
			listen()
		}
	}
}

// freebindListen listens on addr even while the address is not local.
func freebindListen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	l, err := lc.Listen(ctx, "tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return l, nil
}
