package nodeagent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An agent that crashed (kill -9, a panic, an OOM kill) and is started again
// by its supervisor takes over the lease its previous process held, when
// that lease still lives: the node never shows unreachable, nothing is
// fenced, and the guests that ran on meanwhile are supervised again
// (docs/fencing.md, "An agent that restarts"). Without it a restart that
// takes longer than TTL + SuspectAfter (start-up, a slow first status in a
// loaded guest) got a healthy node powered off.
//
// Safety is that of a renewal: the lease is taken over only when a member
// answers a keep-alive for it (etcd then counts its TTL from that moment),
// and the taken-over lease is trusted from when that keep-alive was sent,
// exactly as renew does. A lease that is gone is never revived: a new one is
// granted and the master sees the node come back as after any expiry. The
// saved lease names the boot it belongs to: after a reboot (the guests are
// gone) it is not taken over.

// leaseFileName is the file in the agent's storage directory that names the
// lease the running agent holds.
const leaseFileName = "lease.json"

// savedLease is the content of the lease file.
type savedLease struct {
	ID     int64  `json:"id"`
	Node   string `json:"node"`
	BootID string `json:"boot_id"`
}

// bootID is this boot's identifier ("" where the kernel has none).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// leaseFile is the lease file's path ("" for an agent without storage).
func (a *Agent) leaseFile() string {
	if a.store == nil {
		return ""
	}
	return filepath.Join(a.store.Dir(), leaseFileName)
}

// savedLease returns the lease a previous process of this agent held in
// this boot (0 when none, another node's or another boot's).
func (a *Agent) savedLease() clientv3.LeaseID {
	p := a.leaseFile()
	if p == "" {
		return 0
	}
	return readSavedLease(p, a.cfg.Credentials.Node)
}

// readSavedLease reads the lease file at p: the lease node's previous agent
// process held in this boot (0 when none, another node's or another boot's).
func readSavedLease(p, node string) clientv3.LeaseID {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	var s savedLease
	if json.Unmarshal(b, &s) != nil || s.ID == 0 || s.Node != node || s.BootID == "" || s.BootID != bootID() {
		return 0
	}
	return clientv3.LeaseID(s.ID)
}

// saveLease records id as the lease this process holds (written to a
// temporary file and renamed, so a crash leaves the old or the new one).
func (a *Agent) saveLease(id clientv3.LeaseID) {
	p := a.leaseFile()
	boot := bootID()
	if p == "" || boot == "" {
		return
	}
	b, _ := json.Marshal(savedLease{ID: int64(id), Node: a.cfg.Credentials.Node, BootID: boot})
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		a.log.Warn("lease_file_write_failed", "err", err)
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		a.log.Warn("lease_file_write_failed", "err", err)
	}
}

// clearLease removes the lease file (a clean stop revoked the lease).
func (a *Agent) clearLease() {
	if p := a.leaseFile(); p != "" {
		_ = os.Remove(p)
	}
}

// errNotResumed means the saved lease could not be taken over.
var errNotResumed = errors.New("nodeagent: saved lease not taken over")

// resume takes over lease id when a member answers a keep-alive for it. It
// asks the members in turn (each attempt within timing.Attempt; with one
// member, the whole window) for at most one TTL from now: the lease cannot
// live longer than that, since the previous process renewed it last before
// this one started. A majority of members that say "not found" ends it at
// once. It returns errNotResumed (wrapping the reason) when the lease was
// not taken over; the caller grants a new lease then. The first request of
// a new process pays for the connection (TLS handshake): in a loaded TCG
// guest that alone took more than an attempt's 2 s.
func (k *leaseKeeper) resume(ctx context.Context, id clientv3.LeaseID) error {
	var last error
	first := k.firstMember()
	until := k.now().Add(k.timing.TTL)
	notFound := map[int]bool{}
	for i := 0; ctx.Err() == nil && k.now().Before(until); i++ {
		mi := (first + i) % len(k.members)
		m := k.members[mi]
		sent := k.now()
		limit := until.Sub(sent)
		if len(k.members) > 1 {
			limit = min(limit, k.timing.Attempt)
		}
		cctx, cancel := context.WithTimeout(ctx, limit)
		_, err := m.cli.KeepAliveOnce(cctx, id)
		cancel()
		if err == nil {
			k.mu.Lock()
			k.id, k.sentAt, k.first = id, sent, mi
			k.mu.Unlock()
			return nil
		}
		last = fmt.Errorf("member %s: %w", m.endpoint, err)
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			notFound[mi] = true
			if len(notFound) > len(k.members)/2 {
				break
			}
		}
		k.pause(ctx, i, until)
	}
	if last == nil {
		last = cmp.Or(ctx.Err(), errors.New("no time left"))
	}
	return fmt.Errorf("%w: %w", errNotResumed, last)
}
