package master

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// stateCache is every master's copy of instances, nodes and what the agents
// publish (node status, domains), kept by one watch of the drover prefix,
// so that lists and checks at 20,000 instances cost no full read of etcd
// (docs/scale.md). Reads are consistent: a reader first learns etcd's
// current revision and waits until the cache has applied it (the watch cache
// of Kubernetes' consistent reads). The zero value is ready to run.
type stateCache struct {
	mu        sync.RWMutex
	running   bool
	rev       int64         // every change up to rev is applied
	changed   chan struct{} // closed (and replaced) when rev moves
	instances map[string]*keys.InstanceRecord
	sorted    []string // names in order; nil when stale
	nodes     map[string]*keys.NodeRecord
	status    map[string]*keys.NodeStatus // nodes whose status key exists
	domains   map[string]*keys.DomainStatus
	encoded   sync.Map                   // instance name → *encodedEntry (instance_cache_encoded.go)
	drbd      map[string]*keys.DRBDState // what nodes publish of their DRBD resources
	drbdGen   uint64                     // moves when a node's DRBD state changes
	listGen   uint64                     // moves when what lists show changes (instance_cache_list.go)
	listLog   []string                   // the instance of each change since listBase ("": all)
	listBase  uint64                     // listGen before listLog[0]
	list      atomic.Pointer[listSnapshot]
}

// cacheWait bounds how long a reader waits for the cache to catch up before
// it reads etcd itself.
const cacheWait = 2 * time.Second

// run keeps the cache until ctx ends, reloading after a broken watch.
func (c *stateCache) run(ctx context.Context, cli *clientv3.Client, log *slog.Logger) {
	for ctx.Err() == nil {
		err := c.follow(ctx, cli)
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		log.Warn("state_cache_reload", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// follow loads a snapshot and applies the watch from there on.
func (c *stateCache) follow(ctx context.Context, cli *clientv3.Client) error {
	rev, err := c.load(ctx, cli)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := cli.Watch(wctx, keys.KeyPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return err
		}
		last := resp.Header.Revision
		if !resp.IsProgressNotify() {
			last = 0
		}
		c.mu.Lock()
		for _, ev := range resp.Events {
			c.applyLocked(ev)
			last = max(last, ev.Kv.ModRevision)
		}
		if last > c.rev {
			c.rev = last
			close(c.changed)
			c.changed = make(chan struct{})
		}
		c.mu.Unlock()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("state cache: watch closed")
}

// load reads the three prefixes at one revision into a fresh cache.
func (c *stateCache) load(ctx context.Context, cli *clientv3.Client) (int64, error) {
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rev int64
	var kvs []*mvccpb.KeyValue
	for _, p := range []string{keys.InstancesPrefix, keys.NodesPrefix, keys.NodeStateRoot} {
		opts := []clientv3.OpOption{clientv3.WithPrefix()}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(tctx, p, opts...)
		if err != nil {
			return 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		kvs = append(kvs, resp.Kvs...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.instances, c.sorted = map[string]*keys.InstanceRecord{}, nil
	c.encoded.Clear()
	c.nodes, c.status, c.domains = map[string]*keys.NodeRecord{}, map[string]*keys.NodeStatus{}, map[string]*keys.DomainStatus{}
	c.drbd = map[string]*keys.DRBDState{}
	c.listChanged("")
	for _, kv := range kvs {
		c.applyLocked(&clientv3.Event{Type: clientv3.EventTypePut, Kv: kv})
	}
	c.rev, c.running = rev, true
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
	return rev, nil
}

// applyLocked applies one event (c.mu held); keys the cache does not keep
// are ignored, values that do not decode count as absent.
func (c *stateCache) applyLocked(ev *clientv3.Event) {
	k := string(ev.Kv.Key)
	put := ev.Type == clientv3.EventTypePut
	switch {
	case strings.HasPrefix(k, keys.InstancesPrefix):
		name := keys.NameFromKey(keys.InstancesPrefix, k)
		if name == "" {
			return
		}
		r := &keys.InstanceRecord{}
		if !put || json.Unmarshal(ev.Kv.Value, r) != nil {
			if _, ok := c.instances[name]; ok {
				delete(c.instances, name)
				c.encoded.Delete(name)
				c.sorted = nil
				c.listChanged(name)
			}
			return
		}
		if _, ok := c.instances[name]; !ok {
			c.sorted = nil
		}
		c.instances[name] = r
		c.listChanged(name)
	case strings.HasPrefix(k, keys.NodesPrefix):
		name := keys.NameFromKey(keys.NodesPrefix, k)
		r := &keys.NodeRecord{}
		if name == "" {
			return
		}
		if !put || json.Unmarshal(ev.Kv.Value, r) != nil {
			r = nil
		}
		if nodeListChange(c.nodes[name], r) {
			c.listChanged("")
		}
		if r == nil {
			delete(c.nodes, name)
			return
		}
		c.nodes[name] = r
	case strings.HasPrefix(k, keys.NodeStateRoot):
		node, tail, ok := strings.Cut(strings.TrimPrefix(k, keys.NodeStateRoot), "/")
		if !ok {
			return
		}
		switch {
		case tail == "status":
			st := &keys.NodeStatus{}
			if !put || json.Unmarshal(ev.Kv.Value, st) != nil {
				st = nil
			}
			if (c.status[node] == nil) != (st == nil) {
				c.listChanged("") // a node's status appears or goes (nodeStatusOf, drbdOf)
			}
			if st == nil {
				delete(c.status, node)
				return
			}
			c.status[node] = st
		case strings.HasPrefix(tail, "domains/"):
			id := node + "/" + strings.TrimPrefix(tail, "domains/")
			d := &keys.DomainStatus{}
			c.listChanged(strings.TrimPrefix(tail, "domains/"))
			if !put || json.Unmarshal(ev.Kv.Value, d) != nil {
				delete(c.domains, id)
				return
			}
			c.domains[id] = d
		case tail == "drbd":
			c.drbdGen++
			st := &keys.DRBDState{}
			if !put || json.Unmarshal(ev.Kv.Value, st) != nil {
				st = nil
			}
			if drbdListChange(c.drbd[node], st) {
				c.listChanged("")
			}
			if st == nil {
				delete(c.drbd, node)
				return
			}
			c.drbd[node] = st
		}
	}
}

// sync waits until the cache holds everything etcd had when sync was
// called; false when the cache does not run or does not catch up in time
// (the caller then reads etcd).
func (c *stateCache) sync(ctx context.Context, cli *clientv3.Client) bool {
	c.mu.RLock()
	running := c.running
	c.mu.RUnlock()
	if !running {
		return false
	}
	tctx, cancel := store.WithTimeout(ctx)
	resp, err := cli.Get(tctx, keys.ClusterKey, clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return false
	}
	want := resp.Header.Revision
	deadline := time.NewTimer(cacheWait)
	defer deadline.Stop()
	for asked := false; ; {
		c.mu.RLock()
		rev, running, ch := c.rev, c.running, c.changed
		c.mu.RUnlock()
		if !running {
			return false
		}
		if rev >= want {
			return true
		}
		select {
		case <-ch:
		case <-time.After(20 * time.Millisecond):
			// No event of ours since: ask etcd to say how far the watch is.
			if !asked {
				asked = true
				if err := cli.RequestProgress(ctx); err != nil && !errors.Is(err, rpctypes.ErrGRPCNotSupportedForLearner) {
					return false
				}
			}
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// sortedLocked returns the instance names in order, sorting them when
// they changed (c.mu write-held).
func (c *stateCache) sortedLocked() []string {
	if c.sorted == nil {
		s := make([]string, 0, len(c.instances))
		for n := range c.instances {
			s = append(s, n)
		}
		sort.Strings(s)
		c.sorted = s
	}
	return c.sorted
}

// read calls fn with the cache read-locked and the names in order.
func (c *stateCache) read(fn func(names []string)) {
	c.mu.RLock()
	if c.sorted == nil {
		c.mu.RUnlock()
		c.mu.Lock()
		c.sortedLocked()
		c.mu.Unlock()
		c.mu.RLock()
	}
	defer c.mu.RUnlock()
	names := c.sorted
	if names == nil { // changed between the locks: sort under the read lock
		names = make([]string, 0, len(c.instances))
		for n := range c.instances {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	fn(names)
}

// view copies the cache into a clusterView.
func (c *stateCache) view() *clusterView { return c.viewOf(nil) }

// viewOf is view with only the instances keep accepts, and without the
// domains when keep is set (nil: every instance, with their domains).
func (c *stateCache) viewOf(keep func(*keys.InstanceRecord) bool) *clusterView {
	var v *clusterView
	c.read(func(names []string) {
		v = &clusterView{nodes: make(map[string]*keys.NodeRecord, len(c.nodes)), alive: make(map[string]bool, len(c.status)),
			status: make(map[string]*keys.NodeStatus, len(c.status)), drbd: make(map[string]*keys.DRBDState, len(c.drbd))}
		if keep == nil {
			v.instances = make([]keys.InstanceRecord, 0, len(names))
			v.domains = make(map[string]*keys.DomainStatus, len(c.domains))
		} else {
			v.domains = map[string]*keys.DomainStatus{}
		}
		for _, n := range names {
			if r := c.instances[n]; keep == nil || keep(r) {
				v.instances = append(v.instances, *r)
			}
		}
		for n, r := range c.nodes {
			v.nodes[n] = r
		}
		for n, st := range c.status {
			v.alive[n], v.status[n] = true, st
		}
		if keep == nil {
			maps.Copy(v.domains, c.domains)
		}
		for n, st := range c.drbd {
			v.drbd[n] = st
		}
	})
	return v
}

// drbdChange is how many DRBD state changes the cache applied, and a channel
// closed at its next change of any key (nil when it never loaded).
func (c *stateCache) drbdChange() (uint64, <-chan struct{}) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.drbdGen, c.changed
}

// drbdOf is node's published DRBD state while it is online (c.mu held).
func (c *stateCache) drbdOf(node string) *keys.DRBDState {
	if c.status[node] == nil {
		return nil
	}
	return c.drbd[node]
}
