package master

import (
	"context"
	"iter"
	"maps"
	"slices"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// restartScan is what one pass of the instance watcher acts on: the records
// still marked as being created, the instances that should run and do not
// (admin up, not given up, on an online node, no domain up), and which of
// the names the watcher remembers no longer exist. At 20,000 instances a
// pass copies only these, not every record (docs/scale.md).
type restartScan struct {
	creating []keys.InstanceRecord
	down     []downInstance
	gone     []string
}

// downInstance is an instance that should run and does not, with the state
// its node reports for its domain ("" when none).
type downInstance struct {
	rec   keys.InstanceRecord
	state string
}

// scanForRestart makes the restart scan of recs; online and domain tell a
// node's state and an instance's domain, exists whether an instance exists,
// and known are the names the watcher remembers.
func scanForRestart(recs iter.Seq[*keys.InstanceRecord], online func(node string) bool,
	domain func(node, name string) *keys.DomainStatus, exists func(name string) bool, known []string) *restartScan {
	s := &restartScan{}
	for r := range recs {
		if r.CreatingJob != 0 {
			s.creating = append(s.creating, *r)
			continue
		}
		if !r.AdminUp || r.GaveUp || !online(r.PrimaryNode) {
			continue
		}
		d := domain(r.PrimaryNode, r.Name)
		if domainUp(d) {
			continue
		}
		di := downInstance{rec: *r}
		if d != nil {
			di.state = d.State
		}
		s.down = append(s.down, di)
	}
	for _, n := range known {
		if !exists(n) {
			s.gone = append(s.gone, n)
		}
	}
	return s
}

// scan reads the restart scan from the state cache when it is
// current, else from etcd.
func (w *instanceWatcher) scan(ctx context.Context) (*restartScan, error) {
	known := slices.Collect(maps.Keys(w.lastTry))
	for n := range w.pending {
		if _, ok := w.lastTry[n]; !ok {
			known = append(known, n)
		}
	}
	c := &w.m.cache
	if c.sync(ctx, w.m.client) {
		c.mu.RLock()
		defer c.mu.RUnlock()
		return scanForRestart(maps.Values(c.instances),
			func(n string) bool { return nodeStatusOf(c.nodes[n], c.status[n] != nil) == api.NodeOnline },
			func(n, i string) *keys.DomainStatus { return c.domains[n+"/"+i] },
			func(i string) bool { return c.instances[i] != nil }, known), nil
	}
	v, err := w.m.readClusterViewEtcd(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for i := range v.instances {
		names[v.instances[i].Name] = true
	}
	return scanForRestart(func(yield func(*keys.InstanceRecord) bool) {
		for i := range v.instances {
			if !yield(&v.instances[i]) {
				return
			}
		}
	}, func(n string) bool { return v.nodeStatus(n) == api.NodeOnline }, v.domain,
		func(i string) bool { return names[i] }, known), nil
}
