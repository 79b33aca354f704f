package master

import (
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// listSnapshot is every listed instance (none being created) in name order
// with its encoding, as the cache held them at listGen (docs/scale.md,
// "The list snapshot"). While nothing a list shows changes, a list walks
// this slice: no map look-up, no check of each encoding per instance.
type listSnapshot struct {
	gen   uint64
	items []listItem
}

// listItem is one instance of a page: the cache's record and, when known,
// its encoding (nil: pageOf asks its encode func).
type listItem struct {
	rec *keys.InstanceRecord
	enc *api.EncodedInstance
}

// listSnapshotLocked returns the snapshot of the current listGen, making
// it when the last one is older (c.mu read-held; names are the instance
// names in order). No change can be applied while the read lock is held,
// so the snapshot stored is never older than its gen.
func (c *stateCache) listSnapshotLocked(names []string) (*listSnapshot, error) {
	old := c.list.Load()
	if old != nil && old.gen == c.listGen {
		return old, nil
	}
	s, ok, err := c.patchSnapshotLocked(old)
	if err != nil {
		return nil, err
	}
	if !ok {
		s = &listSnapshot{gen: c.listGen, items: make([]listItem, 0, len(names))}
		for _, n := range names {
			r := c.instances[n]
			if r == nil || r.CreatingJob != 0 {
				continue
			}
			enc, err := c.encodedLocked(r)
			if err != nil {
				return nil, err
			}
			s.items = append(s.items, listItem{rec: r, enc: enc})
		}
	}
	c.list.Store(s)
	return s, nil
}

// maxListLog bounds stateCache.listLog: past it, the next list makes its
// snapshot whole.
const maxListLog = 1024

// listChanged records a change lists show, of instance name ("": one that
// may touch any instance: a node's state, a reload), c.mu write-held.
func (c *stateCache) listChanged(name string) {
	c.listGen++
	if name == "" || len(c.listLog) >= maxListLog {
		c.listLog, c.listBase = c.listLog[:0], c.listGen
		return
	}
	c.listLog = append(c.listLog, name)
}

// patchSnapshotLocked makes the current snapshot from old when only single
// instances changed since old and none of them joined or left the list (a
// new record, a removal, a creation that ended): a copy of old's items with
// those instances' records and encodings replaced. ok is false when the
// whole snapshot must be made (c.mu read-held).
func (c *stateCache) patchSnapshotLocked(old *listSnapshot) (*listSnapshot, bool, error) {
	if old == nil || old.gen < c.listBase || old.gen-c.listBase > uint64(len(c.listLog)) {
		return nil, false, nil
	}
	changed := c.listLog[old.gen-c.listBase:]
	if len(changed) > len(old.items)/8 {
		return nil, false, nil // most of the work of a whole one
	}
	s := &listSnapshot{gen: c.listGen, items: slices.Clone(old.items)}
	for _, name := range changed {
		i, found := sort.Find(len(s.items), func(j int) int { return strings.Compare(name, s.items[j].rec.Name) })
		r := c.instances[name]
		listed := r != nil && r.CreatingJob == 0
		switch {
		case !found && !listed:
			continue
		case found != listed:
			return nil, false, nil
		}
		enc, err := c.encodedLocked(r)
		if err != nil {
			return nil, false, err
		}
		s.items[i] = listItem{rec: r, enc: enc}
	}
	return s, true, nil
}

// listPage is a page from the list snapshot (the caller has synced).
func (c *stateCache) listPage(q api.InstancePageQuery) ([]*api.EncodedInstance, bool, error) {
	var s *listSnapshot
	var err error
	c.read(func(names []string) { s, err = c.listSnapshotLocked(names) })
	if err != nil {
		return nil, false, err
	}
	// A snapshot does not change once made: the page is cut from it
	// without the cache's lock.
	return pageOf(q, slices.Values(s.items[s.startAt(q):]), nil)
}

// startAt is the index of the first item a page may hold: after q.After
// and not before q.NamePrefix.
func (s *listSnapshot) startAt(q api.InstancePageQuery) int {
	i := 0
	if q.After != "" {
		i = sort.Search(len(s.items), func(j int) bool { return s.items[j].rec.Name > q.After })
	}
	if q.NamePrefix != "" {
		i = max(i, sort.Search(len(s.items), func(j int) bool { return s.items[j].rec.Name >= q.NamePrefix }))
	}
	return i
}

// The list generation (stateCache.listGen) moves on every change of what a
// listed instance shows: its record, its domain state, its primary node's
// status (a node record's presence and offline flag, a status key's
// presence) and the nodes' DRBD resources (redundancy). Node statuses that
// are rewritten with only new figures, and every key the cache does not
// keep, leave it alone.

// nodeListChange reports whether a node record going from old to r (nil:
// none) changes what lists show (nodeStatusOf).
func nodeListChange(old, r *keys.NodeRecord) bool {
	return (old == nil) != (r == nil) || (old != nil && old.Offline != r.Offline)
}

// drbdListChange reports whether a node's DRBD state going from old to st
// (nil: none) changes what lists show (redundancyOf reads Resources only).
func drbdListChange(old, st *keys.DRBDState) bool {
	return (old == nil) != (st == nil) || (old != nil && !reflect.DeepEqual(old.Resources, st.Resources))
}
