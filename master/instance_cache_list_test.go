package master

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// cachePut applies a put of v at key to c, as its watch would.
func cachePut(t testing.TB, c *stateCache, key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.applyLocked(&clientv3.Event{Type: clientv3.EventTypePut, Kv: &mvccpb.KeyValue{Key: []byte(key), Value: b}})
	c.mu.Unlock()
}

// cacheDelete applies a delete of key to c.
func cacheDelete(c *stateCache, key string) {
	c.mu.Lock()
	c.applyLocked(&clientv3.Event{Type: clientv3.EventTypeDelete, Kv: &mvccpb.KeyValue{Key: []byte(key)}})
	c.mu.Unlock()
}

// newListCache is a cache with empty maps, as load leaves it.
func newListCache() *stateCache {
	return &stateCache{instances: map[string]*keys.InstanceRecord{}, nodes: map[string]*keys.NodeRecord{},
		status: map[string]*keys.NodeStatus{}, domains: map[string]*keys.DomainStatus{}, drbd: map[string]*keys.DRBDState{}}
}

// listDRBDRec is a drbd instance mirrored between a and b.
func listDRBDRec(name, a, b string) keys.InstanceRecord {
	return keys.InstanceRecord{Name: name, PrimaryNode: a, DiskTemplate: api.DiskTemplateDRBD, AdminUp: true,
		Disks: []keys.DiskSpec{{SizeMiB: 64, DRBD: &keys.DRBDDisk{Resource: "r-" + name,
			Nodes: []keys.DRBDNode{{Node: a, Minor: 1}, {Node: b, Minor: 1, NodeID: 1}}}}}}
}

// TestListSnapshotAnswers compares every page the list snapshot gives with
// the page encoded afresh from a copy of the cache (the etcd path's
// pageOfView), for pages, prefixes, node, tag and field filters, before
// and after each kind of change a list shows (a snapshot patched for
// single instances, or made whole); a node status rewritten with new
// figures only keeps the snapshot.
func TestListSnapshotAnswers(t *testing.T) {
	c := newListCache()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, n := range []string{"n1", "n2", "n3"} {
		cachePut(t, c, keys.NodeKey(n), keys.NodeRecord{Name: n, Offline: n == "n2"})
	}
	for _, n := range []string{"n1", "n2"} {
		cachePut(t, c, keys.NodeStatusKey(n), keys.NodeStatus{Hypervisor: "fake", PublishedAt: now})
	}
	for i := range 40 {
		name, node := fmt.Sprintf("i%02d", i), []string{"n1", "n2", "n3"}[i%3]
		r := keys.InstanceRecord{Name: name, PrimaryNode: node, DiskTemplate: "diskless", AdminUp: i%4 != 0, VCPUs: 1, MemoryMiB: 128}
		if i%7 == 0 {
			r.Tags = []string{"web"}
		}
		if i%11 == 5 {
			r.CreatingJob = 9
		}
		if i%10 == 9 {
			r = listDRBDRec(name, "n1", "n2")
		}
		cachePut(t, c, keys.InstanceKey(name), r)
		if i%5 != 0 {
			cachePut(t, c, keys.NodeDomainKey(r.PrimaryNode, name), keys.DomainStatus{Instance: name, State: keys.DomainRunning, ObservedAt: now})
		}
	}
	cachePut(t, c, keys.NodeDRBDKey("n1"), keys.DRBDState{Resources: []keys.DRBDResource{{Name: "r-i09", Minor: 1, Role: "Primary", Disk: "UpToDate"}}})
	running := func(in *api.Instance) bool { return in.Status == api.InstRunning }
	queries := []api.InstancePageQuery{
		{}, {Limit: 7}, {Limit: 7, After: "i06"}, {After: "i055"}, {After: "i39"}, {NamePrefix: "i1"}, {NamePrefix: "i3", Limit: 2},
		{NamePrefix: "i0", After: "i05", Limit: 3}, {NamePrefix: "x"}, {Node: "n1"}, {Node: "n3", Limit: 4}, {Tag: "web"},
		{Keep: running}, {Keep: running, Node: "n1", Limit: 2}, {Limit: 100},
	}
	check := func(step string) {
		t.Helper()
		for _, q := range queries {
			got, gotMore, err := c.listPage(q)
			if err != nil {
				t.Fatalf("%s: %+v: %v", step, q, err)
			}
			want, wantMore, err := pageOfView(c.view(), q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || gotMore != wantMore {
				t.Fatalf("%s: %+v: %d instances (more %v), want %d (more %v)", step, q, len(got), gotMore, len(want), wantMore)
			}
			for i := range got {
				if !bytes.Equal(got[i].JSON(), want[i].JSON()) {
					t.Fatalf("%s: %+v: [%d] is\n%s\nwant\n%s", step, q, i, got[i].JSON(), want[i].JSON())
				}
			}
		}
	}
	check("start")
	if got, _, _ := c.listPage(api.InstancePageQuery{}); len(got) < 30 || len(got) == 40 {
		t.Fatalf("%d instances listed of 40 (some being created)", len(got))
	}
	kept := c.list.Load()
	cachePut(t, c, keys.NodeStatusKey("n1"), keys.NodeStatus{Hypervisor: "fake", PublishedAt: now.Add(time.Minute),
		Resources: api.NodeResources{MemoryFreeMiB: 1000}})
	cachePut(t, c, keys.NodeKey("n1"), keys.NodeRecord{Name: "n1", Tags: []string{"x"}})
	check("new node figures")
	if c.list.Load() != kept {
		t.Errorf("a node status with new figures only, or a node record change lists do not show, made a new snapshot")
	}
	// patched: the steps whose snapshot is the last one with single
	// instances replaced (the others make it whole).
	patched := map[string]bool{"domain stopped": true, "domain gone": true, "instance modified": true, "two at once": true}
	for _, ch := range []struct {
		step string
		do   func()
	}{
		{"domain stopped", func() {
			cachePut(t, c, keys.NodeDomainKey("n1", "i03"), keys.DomainStatus{Instance: "i03", State: keys.DomainStopped, ObservedAt: now})
		}},
		{"domain gone", func() { cacheDelete(c, keys.NodeDomainKey("n2", "i01")) }},
		{"node online", func() { cachePut(t, c, keys.NodeKey("n2"), keys.NodeRecord{Name: "n2"}) }},
		{"status gone", func() { cacheDelete(c, keys.NodeStatusKey("n1")) }},
		{"status back", func() { cachePut(t, c, keys.NodeStatusKey("n1"), keys.NodeStatus{PublishedAt: now}) }},
		{"node record gone", func() { cacheDelete(c, keys.NodeKey("n3")) }},
		{"instance removed", func() { cacheDelete(c, keys.InstanceKey("i10")) }},
		{"instance added", func() {
			cachePut(t, c, keys.InstanceKey("i105"), keys.InstanceRecord{Name: "i105", PrimaryNode: "n1", AdminUp: true, Tags: []string{"web"}})
		}},
		{"creation ended", func() { cachePut(t, c, keys.InstanceKey("i05"), keys.InstanceRecord{Name: "i05", PrimaryNode: "n3"}) }},
		{"instance modified", func() {
			cachePut(t, c, keys.InstanceKey("i12"), keys.InstanceRecord{Name: "i12", PrimaryNode: "n1", MemoryMiB: 512})
		}},
		{"two at once", func() {
			cachePut(t, c, keys.NodeDomainKey("n1", "i06"), keys.DomainStatus{Instance: "i06", State: keys.DomainStopped, ObservedAt: now})
			cachePut(t, c, keys.InstanceKey("i12"), keys.InstanceRecord{Name: "i12", PrimaryNode: "n1", MemoryMiB: 1024, Tags: []string{"web"}})
			cachePut(t, c, keys.InstanceKey("i99"), keys.InstanceRecord{Name: "i99", PrimaryNode: "n1", CreatingJob: 4})
		}},
		{"more changes than the log keeps", func() {
			for i := range maxListLog + 3 {
				cachePut(t, c, keys.NodeDomainKey("n1", "i15"), keys.DomainStatus{Instance: "i15", State: keys.DomainRunning, ObservedAt: now.Add(time.Duration(i))})
			}
		}},
		{"drbd degraded", func() {
			cachePut(t, c, keys.NodeDRBDKey("n1"), keys.DRBDState{Resources: []keys.DRBDResource{{Name: "r-i09", Minor: 1, Role: "Primary", Disk: "Outdated"}}})
		}},
		{"drbd gone", func() { cacheDelete(c, keys.NodeDRBDKey("n1")) }},
	} {
		before := c.list.Load()
		ch.do()
		c.mu.RLock()
		_, ok, err := c.patchSnapshotLocked(before)
		c.mu.RUnlock()
		if err != nil || ok != patched[ch.step] {
			t.Errorf("%s: patched %v (%v), want %v", ch.step, ok, err, patched[ch.step])
		}
		check(ch.step)
		if c.list.Load() == before {
			t.Errorf("%s: the list snapshot was kept", ch.step)
		}
	}
}

// BenchmarkListSnapshot20000 cuts pages of 10,000 of 20,000 instances on
// 1,000 nodes from the state cache (the master's part of GET /instances
// before the answer is concatenated): "kept" while nothing changes,
// "after-change" with one domain state changed before each list (the
// snapshot made again), and a node filter.
func BenchmarkListSnapshot20000(b *testing.B) {
	c := newListCache()
	now := time.Now().UTC()
	for i := range 1000 {
		n := fmt.Sprintf("node%04d", i)
		cachePut(b, c, keys.NodeKey(n), keys.NodeRecord{Name: n})
		cachePut(b, c, keys.NodeStatusKey(n), keys.NodeStatus{Hypervisor: "fake", PublishedAt: now})
	}
	for i := range 20000 {
		name, node := fmt.Sprintf("inst%05d", i), fmt.Sprintf("node%04d", i%1000)
		cachePut(b, c, keys.InstanceKey(name), keys.InstanceRecord{Name: name, PrimaryNode: node, OS: "tiny", Hypervisor: "fake",
			DiskTemplate: "diskless", VCPUs: 1, MemoryMiB: 128, AdminUp: true, NICs: []keys.NICSpec{{MAC: "aa:00:00:00:00:01"}}})
		cachePut(b, c, keys.NodeDomainKey(node, name), keys.DomainStatus{Instance: name, State: keys.DomainRunning, ObservedAt: now})
	}
	for _, bc := range []struct {
		name   string
		q      api.InstancePageQuery
		want   int
		change bool
	}{
		{"kept", api.InstancePageQuery{Limit: 10000}, 10000, false},
		{"after-change", api.InstancePageQuery{Limit: 10000}, 10000, true},
		{"node", api.InstancePageQuery{Limit: 10000, Node: "node0007"}, 20, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if bc.change {
					i++
					name := fmt.Sprintf("inst%05d", i%20000)
					cachePut(b, c, keys.NodeDomainKey(fmt.Sprintf("node%04d", i%20000%1000), name),
						keys.DomainStatus{Instance: name, State: keys.DomainRunning, ObservedAt: now.Add(time.Duration(i))})
				}
				page, _, err := c.listPage(bc.q)
				if err != nil || len(page) != bc.want {
					b.Fatalf("%d instances, want %d: %v", len(page), bc.want, err)
				}
			}
		})
	}
}
