package master

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Masters join and leave a running cluster as etcd members
// (docs/operations.md, "Adding and removing masters"): AddMaster adds the
// member (etcd's member add: it votes from then on, so the new master must
// be started next) and records the master in the cluster record;
// RemoveMaster removes the member (etcd's strict reconfiguration check
// refuses a removal that would leave too few healthy voters).

// Members lists the etcd members.
func (m *Master) Members(ctx context.Context) ([]api.EtcdMember, error) {
	if len(m.cfg.EtcdEndpoints) > 0 {
		return nil, api.Errorf(api.CodeWrongState, "the masters use an external etcd: its members are not drover's")
	}
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.MemberList(tctx)
	if err != nil {
		return nil, unavailable("etcd member list", err)
	}
	var out []api.EtcdMember
	for _, mb := range resp.Members {
		out = append(out, api.EtcdMember{ID: strconv.FormatUint(mb.ID, 16), Name: mb.Name, PeerURLs: mb.PeerURLs,
			Learner: mb.IsLearner, Started: len(mb.ClientURLs) > 0})
	}
	slices.SortFunc(out, func(a, b api.EtcdMember) int { return cmpStr(a.Name, b.Name) })
	return out, nil
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AddMaster adds the etcd member of a new master and its spec to the
// cluster record. Its certificate and cluster.json entry are the caller's
// (drover cluster add-master writes them into the cluster directory).
func (m *Master) AddMaster(ctx context.Context, a api.MasterAdd) ([]api.EtcdMember, error) {
	spec := keys.MasterSpec{Name: a.Name, IP: a.IP, APIPort: a.APIPort, ClientPort: a.ClientPort, PeerPort: a.PeerPort}
	if err := validMasterSpec(spec); err != nil {
		return nil, err
	}
	members, err := m.Members(ctx)
	if err != nil {
		return nil, err
	}
	for _, mb := range members {
		switch {
		case mb.Name == spec.Name:
			return nil, api.Errorf(api.CodeAlreadyExists, "master %s is an etcd member already", spec.Name)
		case slices.Contains(mb.PeerURLs, peerURL(spec)):
			return nil, api.Errorf(api.CodeAlreadyExists, "etcd member %s has peer URL %s already", mb.ID, peerURL(spec))
		case !mb.Started:
			return nil, api.Errorf(api.CodeWrongState, "etcd member %s (%v) was added but never started: start that master or remove it first", mb.ID, mb.PeerURLs)
		}
	}
	// etcd refuses a voting member while its members have not all been
	// connected for a few seconds ("unhealthy cluster"): wait that out.
	var resp *clientv3.MemberAddResponse
	for deadline := time.Now().Add(20 * time.Second); ; {
		tctx, cancel := store.WithTimeout(ctx)
		resp, err = m.client.MemberAdd(tctx, []string{peerURL(spec)})
		cancel()
		if err == nil || !errors.Is(err, rpctypes.ErrUnhealthy) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return nil, api.Errorf(api.CodeWrongState, "etcd member add %s: %v", peerURL(spec), err)
	}
	if err := m.updateClusterMasters(ctx, func(ms []keys.MasterSpec) []keys.MasterSpec { return append(ms, spec) }); err != nil {
		rctx, rcancel := store.WithTimeout(context.Background())
		defer rcancel()
		if _, rerr := m.client.MemberRemove(rctx, resp.Member.ID); rerr != nil {
			m.log.Error("master_add_undo_failed", "member", resp.Member.ID, "err", rerr)
		}
		return nil, err
	}
	m.log.Info("master_added", "name", spec.Name, "member", strconv.FormatUint(resp.Member.ID, 16), "peer_url", peerURL(spec))
	return m.Members(ctx)
}

// RemoveMaster removes a master's etcd member and its spec. A master does
// not remove itself (ask another one; its member would vanish under the
// request), nor the last voting member.
func (m *Master) RemoveMaster(ctx context.Context, name string) ([]api.EtcdMember, error) {
	if name == m.cfg.Name {
		return nil, api.Errorf(api.CodeWrongState, "master %s cannot remove its own etcd member: ask another master", name)
	}
	var rec keys.ClusterRecord
	if _, err := store.GetJSON(ctx, m.client, keys.ClusterKey, &rec); err != nil {
		return nil, unavailable("read cluster", err)
	}
	var url string
	for _, s := range rec.Masters {
		if s.Name == name {
			url = peerURL(s)
		}
	}
	tctx, cancel := store.WithTimeout(ctx)
	resp, err := m.client.MemberList(tctx)
	cancel()
	if err != nil {
		return nil, unavailable("etcd member list", err)
	}
	var target *uint64
	for _, mb := range resp.Members {
		if mb.Name == name || (url != "" && slices.Contains(mb.PeerURLs, url)) {
			id := mb.ID
			target = &id
		}
	}
	if target != nil && len(resp.Members) == 1 {
		return nil, api.Errorf(api.CodeWrongState, "master %s holds the last etcd member", name)
	}
	if target == nil && url == "" {
		return nil, api.Errorf(api.CodeUnknownEntity, "master %s not found (no etcd member, not in the cluster record)", name)
	}
	if target != nil {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := m.client.MemberRemove(tctx, *target)
		cancel()
		if err != nil {
			// etcd refuses a removal that would leave too few healthy
			// voters for a quorum (strict reconfiguration check).
			return nil, api.Errorf(api.CodeWrongState, "etcd member remove %s: %v", name, err)
		}
	}
	if err := m.updateClusterMasters(ctx, func(ms []keys.MasterSpec) []keys.MasterSpec {
		return slices.DeleteFunc(ms, func(s keys.MasterSpec) bool { return s.Name == name })
	}); err != nil {
		return nil, err
	}
	m.log.Info("master_removed", "name", name)
	return m.Members(ctx)
}

// updateClusterMasters rewrites the cluster record's masters (revision
// compared, retried on a concurrent change).
func (m *Master) updateClusterMasters(ctx context.Context, f func([]keys.MasterSpec) []keys.MasterSpec) error {
	for range 5 {
		var rec keys.ClusterRecord
		rev, err := store.GetJSON(ctx, m.client, keys.ClusterKey, &rec)
		if err != nil {
			return unavailable("read cluster", err)
		}
		rec.Masters = f(rec.Masters)
		put, err := store.PutJSON(keys.ClusterKey, rec)
		if err != nil {
			return err
		}
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := m.client.Txn(tctx).If(store.Unchanged(keys.ClusterKey, rev)).Then(put).Commit()
		cancel()
		if err != nil {
			return unavailable("write cluster", err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return api.Errorf(api.CodeWrongState, "cluster record changed 5 times while updating its masters")
}

func validMasterSpec(s keys.MasterSpec) error {
	if err := api.ValidHostname(s.Name); err != nil {
		return api.Errorf(api.CodeWrongInput, "master name: %v", err)
	}
	if net.ParseIP(s.IP) == nil {
		return api.Errorf(api.CodeWrongInput, "master %s: IP %q is not an address", s.Name, s.IP)
	}
	for _, p := range []int{s.APIPort, s.ClientPort, s.PeerPort} {
		if p <= 0 || p > 65535 {
			return api.Errorf(api.CodeWrongInput, "master %s: port %d out of range", s.Name, p)
		}
	}
	return nil
}

// etcdStopped is closed when the embedded member's server stops, as it
// does when the member is removed from the cluster (never, with an
// external etcd).
func (m *Master) etcdStopped() <-chan struct{} {
	if m.etcd == nil {
		return nil
	}
	return m.etcd.Server.StopNotify()
}
