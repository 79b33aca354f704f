package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// nodeStatusOf is a node's derived status (api.NodeOnline, ...).
func nodeStatusOf(r *keys.NodeRecord, alive bool) string {
	switch {
	case r == nil:
		return api.NodeUnreachable
	case r.Offline:
		return api.NodeOffline
	case alive:
		return api.NodeOnline
	}
	return api.NodeUnreachable
}

// domainUp reports whether a domain state counts as running (a paused
// domain is up, as Ganeti counts it).
func domainUp(d *keys.DomainStatus) bool {
	return d != nil && (d.State == keys.DomainRunning || d.State == keys.DomainPaused)
}

// instanceStatus derives Ganeti's status from the desired state, the
// primary node's status and the domain it reports (nil: none reported).
func instanceStatus(adminUp bool, nodeStatus string, d *keys.DomainStatus) string {
	switch nodeStatus {
	case api.NodeOffline:
		return api.InstErrorNodeOffline
	case api.NodeUnreachable:
		return api.InstErrorNodeDown
	}
	up := domainUp(d)
	switch {
	case adminUp && up:
		return api.InstRunning
	case adminUp:
		return api.InstErrorDown
	case up:
		return api.InstErrorUp
	}
	return api.InstAdminDown
}

// instanceView joins a record with what is observed.
func instanceView(r keys.InstanceRecord, nodeStatus string, d *keys.DomainStatus) api.Instance {
	in := api.Instance{
		Name: r.Name, UUID: r.UUID, PrimaryNode: r.PrimaryNode, OS: r.OS, OSVersion: r.OSVersion,
		Hypervisor: r.Hypervisor, DiskTemplate: r.DiskTemplate, VCPUs: r.VCPUs, MemoryMiB: r.MemoryMiB,
		AdminState: "down", Status: instanceStatus(r.AdminUp, nodeStatus, d),
		Restarts: r.Restarts, GaveUp: r.GaveUp, CreatedAt: r.CreatedAt, Tags: r.Tags,
		ServiceIP: r.ServiceIP, InstanceHA: r.InstanceHA,
	}
	if r.AdminUp {
		in.AdminState = "up"
	}
	in.SecondaryNodes = secondaryNodes(&r)
	if isBlockTemplate(r.DiskTemplate) {
		active := !r.DisksDown
		in.DisksActive = &active
	}
	for _, dk := range r.Disks {
		in.Disks = append(in.Disks, api.InstanceDisk{SizeMiB: dk.SizeMiB})
	}
	for _, n := range r.NICs {
		in.NICs = append(in.NICs, api.InstanceNIC{MAC: n.MAC, Link: n.Link})
	}
	if d != nil && nodeStatus == api.NodeOnline {
		in.OperState = d.State
		t := d.ObservedAt
		in.ObservedAt = &t
	}
	return in
}

// clusterView is one consistent read of instances, nodes and domains.
type clusterView struct {
	instances []keys.InstanceRecord
	nodes     map[string]*keys.NodeRecord
	alive     map[string]bool
	status    map[string]*keys.NodeStatus   // what alive nodes' agents publish
	domains   map[string]*keys.DomainStatus // by "node/instance"
	drbd      map[string]*keys.DRBDState    // what nodes publish of their DRBD resources
}

// drbdOf is node's published DRBD state while it is alive (nil: none).
func (v *clusterView) drbdOf(node string) *keys.DRBDState {
	if !v.alive[node] {
		return nil
	}
	return v.drbd[node]
}

func (v *clusterView) domain(node, inst string) *keys.DomainStatus {
	return v.domains[node+"/"+inst]
}

func (v *clusterView) nodeStatus(node string) string {
	return nodeStatusOf(v.nodes[node], v.alive[node])
}

// readClusterView is a consistent view of instances, nodes and node states:
// from the state cache when it runs and is current, else from etcd.
func (m *Master) readClusterView(ctx context.Context) (*clusterView, error) {
	if m.cache.sync(ctx, m.client) {
		return m.cache.view(), nil
	}
	return m.readClusterViewEtcd(ctx)
}

// readClusterViewEtcd reads instances, nodes and node states at one revision.
func (m *Master) readClusterViewEtcd(ctx context.Context) (*clusterView, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	ir, err := m.client.Get(tctx, keys.InstancesPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("list instances", err)
	}
	rev := clientv3.WithRev(ir.Header.Revision)
	nr, err := m.client.Get(tctx, keys.NodesPrefix, clientv3.WithPrefix(), rev)
	if err != nil {
		return nil, unavailable("list nodes", err)
	}
	sr, err := m.client.Get(tctx, keys.NodeStateRoot, clientv3.WithPrefix(), rev)
	if err != nil {
		return nil, unavailable("list node states", err)
	}
	v := &clusterView{nodes: map[string]*keys.NodeRecord{}, alive: map[string]bool{}, domains: map[string]*keys.DomainStatus{},
		status: map[string]*keys.NodeStatus{}, drbd: map[string]*keys.DRBDState{}}
	for _, kv := range ir.Kvs {
		var r keys.InstanceRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		v.instances = append(v.instances, r)
	}
	for _, kv := range nr.Kvs {
		r := &keys.NodeRecord{}
		if err := json.Unmarshal(kv.Value, r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		v.nodes[r.Name] = r
	}
	for _, kv := range sr.Kvs {
		k := string(kv.Key)
		if n := keys.NodeFromStatusKey(k); n != "" {
			v.alive[n] = true
			st := &keys.NodeStatus{}
			if json.Unmarshal(kv.Value, st) == nil {
				v.status[n] = st
			}
			continue
		}
		rest := strings.TrimPrefix(k, keys.NodeStateRoot)
		node, tail, ok := strings.Cut(rest, "/")
		if ok && tail == "drbd" {
			st := &keys.DRBDState{}
			if json.Unmarshal(kv.Value, st) == nil {
				v.drbd[node] = st
			}
			continue
		}
		if !ok || !strings.HasPrefix(tail, "domains/") {
			continue
		}
		d := &keys.DomainStatus{}
		if json.Unmarshal(kv.Value, d) == nil {
			v.domains[node+"/"+strings.TrimPrefix(tail, "domains/")] = d
		}
	}
	return v, nil
}

// ListInstances implements api.InstanceBackend; instances being created are
// not listed.
func (m *Master) ListInstances(ctx context.Context) ([]api.Instance, error) {
	v, err := m.readClusterView(ctx)
	if err != nil {
		return nil, err
	}
	out := []api.Instance{}
	for _, r := range v.instances {
		if r.CreatingJob != 0 {
			continue
		}
		in := instanceView(r, v.nodeStatus(r.PrimaryNode), v.domain(r.PrimaryNode, r.Name))
		in.Redundancy = redundancyOf(&r, v.drbdOf)
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// GetInstance implements api.InstanceBackend.
func (m *Master) GetInstance(ctx context.Context, name string) (*api.Instance, error) {
	r, _, err := m.instanceRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	node, _ := m.nodeRecord(ctx, r.PrimaryNode)
	alive, err := m.keyExists(ctx, keys.NodeStatusKey(r.PrimaryNode))
	if err != nil {
		return nil, err
	}
	d, err := m.domainStatus(ctx, r.PrimaryNode, name)
	if err != nil {
		return nil, err
	}
	in := instanceView(*r, nodeStatusOf(node, alive), d)
	if in.DRBD, err = m.instanceDRBD(ctx, r); err != nil {
		return nil, err
	}
	in.Redundancy = m.instanceRedundancy(ctx, r)
	ha, err := m.instanceHA(ctx, r)
	if err != nil {
		return nil, err
	}
	if len(ha.Value.FailCounts) > 0 || len(ha.Value.Events) > 0 {
		in.HA = &ha.Value.InstanceHAState
	}
	return &in, nil
}

// instanceRecord reads a finished instance's record and its revision
// (unknown_entity if absent or still being created).
func (m *Master) instanceRecord(ctx context.Context, name string) (*keys.InstanceRecord, int64, error) {
	var r keys.InstanceRecord
	rev, err := store.GetJSON(ctx, m.client, keys.InstanceKey(name), &r)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, api.Errorf(api.CodeUnknownEntity, "instance %q not found", name)
		}
		return nil, 0, unavailable("read instance", err)
	}
	if r.CreatingJob != 0 {
		return nil, 0, api.Errorf(api.CodeUnknownEntity, "instance %q not found (being created by job %d)", name, r.CreatingJob)
	}
	return &r, rev, nil
}

// keyExists reports whether key exists.
func (m *Master) keyExists(ctx context.Context, key string) (bool, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, key, clientv3.WithCountOnly())
	if err != nil {
		return false, unavailable("read "+key, err)
	}
	return resp.Count > 0, nil
}

// domainStatus reads what node reports of instance's domain (nil: nothing).
func (m *Master) domainStatus(ctx context.Context, node, inst string) (*keys.DomainStatus, error) {
	var d keys.DomainStatus
	if _, err := store.GetJSON(ctx, m.client, keys.NodeDomainKey(node, inst), &d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, unavailable("read domain status", err)
	}
	return &d, nil
}

// InstanceConsole implements api.InstanceBackend: the leader asks the
// primary node's agent for the end of the console log. Followers answer
// unavailable, so that the client tries the next master.
func (m *Master) InstanceConsole(ctx context.Context, name string, maxBytes int) (*api.InstanceConsole, error) {
	leading, epoch := m.Leading()
	if !leading {
		return nil, api.Errorf(api.CodeUnavailable, "master %s does not lead; the leader reads consoles", m.cfg.Name)
	}
	r, _, err := m.instanceRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	c := nodeCmd{
		ID: "console-" + randomSecret(6), Node: r.PrimaryNode, Kind: keys.CmdInstanceConsole,
		Instance: *r, Params: keys.ConsoleParams{MaxBytes: maxBytes}, Timeout: cmdTimeoutConsole,
	}
	out, err := m.runNodeCmd(ctx, epoch, c)
	if err != nil {
		return nil, err
	}
	var co keys.ConsoleOutput
	if len(out) > 0 {
		if err := json.Unmarshal(out, &co); err != nil {
			return nil, fmt.Errorf("console output of %s: %w", r.PrimaryNode, err)
		}
	}
	if len(co.Text) > maxBytes {
		co.Text = co.Text[len(co.Text)-maxBytes:]
	}
	return &api.InstanceConsole{Instance: name, Node: r.PrimaryNode, Output: co.Text}, nil
}
