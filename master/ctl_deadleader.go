package master

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
)

// Dead leader detection: while a master waits in the election, it probes the
// leader's embedded etcd member. When the connection is refused deadProbes
// times in a row, the leader's process is gone (host up, nothing listening),
// so waiting for its session lease to expire (TTL, plus the extension a new
// etcd leader grants) only delays the handover: the master deletes the
// leader's election key, guarded by its create revision. This is safe even if
// the guess were wrong: every leader-only write is fenced on that key, so the
// deposed leader can write nothing more. A timeout (host down, partition)
// proves nothing and leaves the lease to decide.
const (
	deadProbeInterval = 250 * time.Millisecond
	deadProbes        = 2
	// deadProbeTimeout bounds the etcd calls of the probe: a request in flight
	// when the etcd leader dies is only answered after etcd's request timeout
	// (about 6 s), so give up early and try again.
	deadProbeTimeout = time.Second
)

// watchDeadLeader runs until ctx ends (the caller's campaign is over).
func (m *Master) watchDeadLeader(ctx context.Context) {
	if len(m.cfg.EtcdEndpoints) > 0 {
		return // external etcd: no member port tells that a master died
	}
	var key string
	var rev int64
	refused := 0
	t := time.NewTicker(deadProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		name, k, r, err := m.leaderKey(ctx)
		if err != nil || name == "" || name == m.cfg.Name {
			refused = 0
			continue
		}
		if k != key || r != rev {
			key, rev, refused = k, r, 0
		}
		if !m.memberRefuses(ctx, name) {
			refused = 0
			continue
		}
		if refused++; refused < deadProbes {
			continue
		}
		done, err := m.deposeDead(ctx, key, rev)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("depose_dead_leader_failed", "leader", name, "error", err)
			}
			continue
		}
		if done {
			m.log.Warn("dead_leader_deposed", "leader", name, "epoch", rev)
		}
		refused = 0
	}
}

// leaderKey reads the current leader's name, election key and epoch, as the
// local member knows them.
func (m *Master) leaderKey(ctx context.Context) (string, string, int64, error) {
	tctx, cancel := context.WithTimeout(ctx, deadProbeTimeout)
	defer cancel()
	// Serializable: answered by the local member even while etcd elects a new
	// leader; the deposing transaction checks the revision anyway.
	opts := append(clientv3.WithFirstCreate(), clientv3.WithSerializable())
	resp, err := m.client.Get(tctx, keys.ElectionPrefix+"/", opts...)
	if err != nil || len(resp.Kvs) == 0 {
		return "", "", 0, err
	}
	kv := resp.Kvs[0]
	return string(kv.Value), string(kv.Key), kv.CreateRevision, nil
}

// memberRefuses reports whether master name's etcd client port refuses
// connections (nothing listens there).
func (m *Master) memberRefuses(ctx context.Context, name string) bool {
	spec, err := m.dir.Master(name)
	if err != nil {
		return false
	}
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", net.JoinHostPort(spec.IP, fmt.Sprint(spec.ClientPort)))
	if err == nil {
		_ = conn.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// deposeDead deletes the election key key if it still has create revision
// rev; it reports whether it did.
func (m *Master) deposeDead(ctx context.Context, key string, rev int64) (bool, error) {
	tctx, cancel := context.WithTimeout(ctx, deadProbeTimeout)
	defer cancel()
	resp, err := m.client.Txn(tctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return false, fmt.Errorf("delete election key: %w", err)
	}
	return resp.Succeeded, nil
}
