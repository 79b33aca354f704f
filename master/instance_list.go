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
// in name order, from the state cache (etcd when the cache is not current).
// Instances being created are not listed.
func (m *Master) ListInstancePage(ctx context.Context, q api.InstancePageQuery) ([]api.Instance, bool, error) {
	if m.cache.sync(ctx, m.client) {
		var out []api.Instance
		var more bool
		c := &m.cache
		c.read(func(names []string) {
			recs := func(yield func(*keys.InstanceRecord) bool) {
				for _, n := range names[startAt(names, q):] {
					if r := c.instances[n]; r != nil && !yield(r) {
						return
					}
				}
			}
			out, more = pageOf(q, recs, func(n string) string { return nodeStatusOf(c.nodes[n], c.status[n] != nil) },
				func(node, inst string) *keys.DomainStatus { return c.domains[node+"/"+inst] })
		})
		return out, more, nil
	}
	v, err := m.readClusterViewEtcd(ctx)
	if err != nil {
		return nil, false, err
	}
	names := make([]string, len(v.instances))
	for i := range v.instances {
		names[i] = v.instances[i].Name
	}
	recs := func(yield func(*keys.InstanceRecord) bool) {
		for i := startAt(names, q); i < len(v.instances); i++ {
			if !yield(&v.instances[i]) {
				return
			}
		}
	}
	out, more := pageOf(q, recs, v.nodeStatus, v.domain)
	return out, more, nil
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

// pageOf fills a page from records in name order (starting at startAt).
func pageOf(q api.InstancePageQuery, recs iter.Seq[*keys.InstanceRecord], nodeStatus func(string) string,
	domain func(node, inst string) *keys.DomainStatus) ([]api.Instance, bool) {
	out := []api.Instance{}
	for r := range recs {
		switch {
		case q.NamePrefix != "" && !strings.HasPrefix(r.Name, q.NamePrefix):
			return out, false // names in order: no later one has the prefix
		case r.CreatingJob != 0, q.Node != "" && r.PrimaryNode != q.Node, q.Tag != "" && !slices.Contains(r.Tags, q.Tag):
			continue
		}
		in := instanceView(*r, nodeStatus(r.PrimaryNode), domain(r.PrimaryNode, r.Name))
		if q.Keep != nil && !q.Keep(&in) {
			continue
		}
		if q.Limit > 0 && len(out) == q.Limit {
			return out, true
		}
		out = append(out, in)
	}
	return out, false
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
