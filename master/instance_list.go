package master

import (
	"context"
	"iter"
	"slices"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// ListInstancePage implements api.InstancePager: one page of the instances
// in name order (ListInstancePageEncoded without the encodings).
func (m *Master) ListInstancePage(ctx context.Context, q api.InstancePageQuery) ([]api.Instance, bool, error) {
	page, more, err := m.ListInstancePageEncoded(ctx, q)
	out := make([]api.Instance, 0, len(page))
	for _, e := range page {
		out = append(out, e.Instance)
	}
	return out, more, err
}

// ListInstancePageEncoded implements api.InstanceEncodedPager: one page of
// the instances in name order, from the state cache's list snapshot
// (instance_cache_list.go; etcd, encoding each instance, when the cache is
// not current). Instances being created are not listed.
func (m *Master) ListInstancePageEncoded(ctx context.Context, q api.InstancePageQuery) ([]*api.EncodedInstance, bool, error) {
	if m.cache.sync(ctx, m.client) {
		return m.cache.listPage(q)
	}
	v, err := m.readClusterViewEtcd(ctx)
	if err != nil {
		return nil, false, err
	}
	return pageOfView(v, q)
}

// pageOfView is a page of the instances of v, each encoded for it.
func pageOfView(v *clusterView, q api.InstancePageQuery) ([]*api.EncodedInstance, bool, error) {
	names := make([]string, len(v.instances))
	for i := range v.instances {
		names[i] = v.instances[i].Name
	}
	items := func(yield func(listItem) bool) {
		for i := startAt(names, q); i < len(v.instances); i++ {
			if !yield(listItem{rec: &v.instances[i]}) {
				return
			}
		}
	}
	return pageOf(q, items, func(r *keys.InstanceRecord) (*api.EncodedInstance, error) {
		in := instanceView(*r, v.nodeStatus(r.PrimaryNode), v.domain(r.PrimaryNode, r.Name))
		in.Redundancy = redundancyOf(r, v.drbdOf)
		return api.NewEncodedInstance(in)
	})
}

// startAt is the index in sorted names of the first name a page may hold:
// after q.After and not before q.NamePrefix.
func startAt(names []string, q api.InstancePageQuery) int {
	i := 0
	if q.After != "" {
		i = sort.SearchStrings(names, q.After)
		if i < len(names) && names[i] == q.After {
			i++
		}
	}
	if q.NamePrefix != "" {
		i = max(i, sort.SearchStrings(names, q.NamePrefix))
	}
	return i
}

// pageOf fills a page from items in name order (starting at startAt);
// encode gives the listed instance of an item that has no encoding.
func pageOf(q api.InstancePageQuery, items iter.Seq[listItem],
	encode func(*keys.InstanceRecord) (*api.EncodedInstance, error)) ([]*api.EncodedInstance, bool, error) {
	out := []*api.EncodedInstance{}
	if q.Limit > 0 && q.Node == "" && q.Tag == "" && q.Keep == nil {
		out = make([]*api.EncodedInstance, 0, min(q.Limit, 1<<14))
	}
	for it := range items {
		r := it.rec
		switch {
		case q.NamePrefix != "" && !strings.HasPrefix(r.Name, q.NamePrefix):
			return out, false, nil // names in order: no later one has the prefix
		case r.CreatingJob != 0, q.Node != "" && r.PrimaryNode != q.Node, q.Tag != "" && !slices.Contains(r.Tags, q.Tag):
			continue
		}
		e := it.enc
		if e == nil {
			var err error
			if e, err = encode(r); err != nil {
				return nil, false, err
			}
		}
		if q.Keep != nil && !q.Keep(&e.Instance) {
			continue
		}
		if q.Limit > 0 && len(out) == q.Limit {
			return out, true, nil
		}
		out = append(out, e)
	}
	return out, false, nil
}

// primaryVCPUs is Master.primaryVCPUs from the cache (false: not current).
func (c *stateCache) primaryVCPUs(ctx context.Context, cli *clientv3.Client, node, except string) (int, bool) {
	if !c.sync(ctx, cli) {
		return 0, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, r := range c.instances {
		if r.PrimaryNode == node && r.Name != except {
			n += r.VCPUs
		}
	}
	return n, true
}

// nodeStatus is what node's agent last published, as the cache holds it
// (nil: none); callers that need it current sync first.
func (c *stateCache) nodeStatus(node string) *keys.NodeStatus {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.status[node]
}
