package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// nodeView joins a node's record with its agent's status (nil: no lease).
func nodeView(r keys.NodeRecord, st *keys.NodeStatus) api.Node {
	n := api.Node{
		Name: r.Name, UUID: r.UUID, PrimaryIP: r.PrimaryIP, SecondaryIP: r.SecondaryIP,
		Group: r.Group, MasterCapable: r.MasterCapable, VMCapable: r.VMCapable,
		Drained: r.Drained, Offline: r.Offline, Tags: r.Tags, AddedAt: r.AddedAt,
	}
	switch {
	case r.Offline:
		n.Status = api.NodeOffline
	case st != nil:
		n.Status = api.NodeOnline
	default:
		n.Status = api.NodeUnreachable
	}
	if st != nil {
		if st.Watchdog != nil {
			n.Watchdog = st.Watchdog.Device
		}
		res, started, seen := st.Resources, st.StartedAt, st.PublishedAt
		n.Hypervisor, n.HypervisorOK, n.AgentVersion = st.Hypervisor, st.HypervisorOK, st.AgentVersion
		n.HypervisorError = st.HypervisorError
		n.Resources, n.AgentStartedAt, n.LastSeen = &res, &started, &seen
		n.OSDefinitions = st.OSDefinitions
		n.Uplink = st.Uplink
		if s := st.Storage; s != nil {
			n.Storage = &api.NodeStorage{DRBDVersion: s.DRBDVersion, DRBDUtils: s.DRBDUtils, VG: s.VG,
				VGSizeMiB: s.VGSizeMiB, VGFreeMiB: s.VGFreeMiB, Error: s.Error}
		}
	}
	return n
}

// ListNodes implements api.Backend.
func (m *Master) ListNodes(ctx context.Context) ([]api.Node, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	nr, err := m.client.Get(tctx, keys.NodesPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("list nodes", err)
	}
	sr, err := m.client.Get(tctx, keys.NodeStateRoot, clientv3.WithPrefix(), clientv3.WithRev(nr.Header.Revision))
	if err != nil {
		return nil, unavailable("list node states", err)
	}
	extra, err := m.nodeExtras(tctx, nr.Header.Revision)
	if err != nil {
		return nil, err
	}
	status := map[string]*keys.NodeStatus{}
	for _, kv := range sr.Kvs {
		if n := keys.NodeFromStatusKey(string(kv.Key)); n != "" {
			st := &keys.NodeStatus{}
			if json.Unmarshal(kv.Value, st) == nil {
				status[n] = st
			}
		}
	}
	out := make([]api.Node, 0, len(nr.Kvs))
	for _, kv := range nr.Kvs {
		var r keys.NodeRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		n := nodeView(r, status[r.Name])
		extra.apply(&n, false)
		out = append(out, n)
	}
	return out, nil
}

// GetNode implements api.Backend.
func (m *Master) GetNode(ctx context.Context, name string) (*api.Node, error) {
	r, err := m.nodeRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	extra, err := m.nodeExtra(ctx, name)
	if err != nil {
		return nil, err
	}
	var st keys.NodeStatus
	_, err = store.GetJSON(ctx, m.client, keys.NodeStatusKey(name), &st)
	switch {
	case errors.Is(err, store.ErrNotFound):
		n := nodeView(*r, nil)
		extra.apply(&n, true)
		return &n, nil
	case err != nil:
		return nil, unavailable("read node status", err)
	}
	n := nodeView(*r, &st)
	extra.apply(&n, true)
	n.DRBD = m.nodeDRBD(ctx, name)
	return &n, nil
}

// nodeRecord reads a node's record (unknown_entity if absent).
func (m *Master) nodeRecord(ctx context.Context, name string) (*keys.NodeRecord, error) {
	var r keys.NodeRecord
	if _, err := store.GetJSON(ctx, m.client, keys.NodeKey(name), &r); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, api.Errorf(api.CodeUnknownEntity, "node %q not found", name)
		}
		return nil, unavailable("read node", err)
	}
	return &r, nil
}

// NodeCredentials implements api.Backend: it issues the node a new etcd user
// and a client certificate whose CN is that user (valid MaxTokenTTL), and a
// new API token; the node's earlier etcd users and tokens are revoked.
func (m *Master) NodeCredentials(ctx context.Context, name string) (*api.NodeCredentials, error) {
	if _, err := m.nodeRecord(ctx, name); err != nil {
		return nil, err
	}
	ca, caKey, err := loadCA(m.dir)
	if err != nil {
		return nil, err
	}
	user, err := issueNodeUser(ctx, m.client, name)
	if err != nil {
		return nil, unavailable("node credentials", err)
	}
	certPEM, keyPEM, err := newClientCert(ca, caKey, user, MaxTokenTTL)
	if err != nil {
		return nil, fmt.Errorf("node credentials: %w", err)
	}
	tok, err := m.issueNodeToken(ctx, name)
	if err != nil {
		return nil, err
	}
	return &api.NodeCredentials{
		Node: name, EtcdEndpoints: m.dir.ClientURLs(),
		EtcdUser: user, EtcdCert: string(certPEM), EtcdKey: string(keyPEM),
		CACert: string(pemBlock("CERTIFICATE", ca.Raw)), APIURLs: m.dir.APIURLs(), LeaseTTL: m.dir.Cluster.NodeLeaseTTL,
		APIToken: tok,
	}, nil
}

// issueNodeToken signs and records a token of role node for node name
// (subject "node.<name>", valid MaxTokenTTL); CheckNodeToken admits it while
// it is not revoked and the node exists.
func (m *Master) issueNodeToken(ctx context.Context, name string) (string, error) {
	now := time.Now().UTC().Truncate(time.Second)
	rec := keys.TokenRecord{ID: newTokenID(), User: keys.NodeEtcdUser(name), Role: api.RoleNode, IssuedAt: now, ExpiresAt: now.Add(MaxTokenTTL)}
	tok, err := m.signer.Sign(rec.User, rec.Role, rec.ID, rec.IssuedAt, rec.ExpiresAt)
	if err != nil {
		return "", fmt.Errorf("sign node token: %w", err)
	}
	put, err := store.PutJSON(keys.TokenKey(rec.ID), rec)
	if err != nil {
		return "", err
	}
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	// The node's earlier tokens are revoked with the new one recorded: the
	// credentials rotate as a whole.
	ops := []clientv3.Op{put}
	old, err := m.client.Get(tctx, keys.TokensPrefix, clientv3.WithPrefix())
	if err != nil {
		return "", unavailable("read tokens", err)
	}
	for _, kv := range old.Kvs {
		var tr keys.TokenRecord
		if json.Unmarshal(kv.Value, &tr) != nil || tr.User != rec.User || tr.Revoked {
			continue
		}
		tr.Revoked = true
		op, err := store.PutJSON(string(kv.Key), tr)
		if err != nil {
			return "", err
		}
		ops = append(ops, op)
	}
	resp, err := m.client.Txn(tctx).
		If(clientv3.Compare(clientv3.CreateRevision(keys.NodeKey(name)), ">", 0)).Then(ops...).Commit()
	if err != nil {
		return "", unavailable("record node token", err)
	}
	if !resp.Succeeded {
		return "", api.Errorf(api.CodeUnknownEntity, "node %q removed meanwhile", name)
	}
	return tok, nil
}
