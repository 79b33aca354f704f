package master

import (
	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// encodedEntry is an instance as the API lists it, encoded once
// (docs/scale.md, "Encoded once"), with what it was made from: it is
// current while the record and the domain state are the same objects (the
// cache makes a new one on every change of either) and the primary node's
// status reads the same.
type encodedEntry struct {
	rec        *keys.InstanceRecord
	domKey     string // the domain's key in stateCache.domains
	dom        *keys.DomainStatus
	nodeStatus string
	redundancy string // redundancyOf (drbd), from the nodes' DRBD states
	enc        *api.EncodedInstance
}

// encodedLocked is r's listed instance, encoded again only when something
// it shows changed (c.mu read-held; r is the cache's record).
func (c *stateCache) encodedLocked(r *keys.InstanceRecord) (*api.EncodedInstance, error) {
	var e *encodedEntry
	if v, ok := c.encoded.Load(r.Name); ok {
		e = v.(*encodedEntry)
	}
	domKey := r.PrimaryNode + "/" + r.Name
	if e != nil && e.rec == r {
		domKey = e.domKey // the same record: no new key string per list
	}
	ns := nodeStatusOf(c.nodes[r.PrimaryNode], c.status[r.PrimaryNode] != nil)
	d := c.domains[domKey]
	red := redundancyOf(r, c.drbdOf)
	if e != nil && e.rec == r && e.dom == d && e.nodeStatus == ns && e.redundancy == red {
		return e.enc, nil
	}
	in := instanceView(*r, ns, d)
	in.Redundancy = red
	enc, err := api.NewEncodedInstance(in)
	if err != nil {
		return nil, err
	}
	// Stored under the read lock: no change can come between the reads
	// above and this store, so an entry is never older than the cache.
	c.encoded.Store(r.Name, &encodedEntry{rec: r, domKey: domKey, dom: d, nodeStatus: ns, redundancy: red, enc: enc})
	return enc, nil
}
