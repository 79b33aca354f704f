package master

import (
	"errors"
	"fmt"
	"slices"

	"github.com/drover-project/drover/allocator"
)

// A node whose agent says its uplink is lost (ping targets, ctl_uplink.go)
// is preferred less for new placements, as the pingd rule of a Pacemaker
// cluster does: instance add and the re-protection's new secondary are
// placed without such nodes first, and on them only when nothing else fits
// (docs/ha.md, "Connectivity").

// withoutLostUplinks returns spec with the nodes of v whose uplink is lost
// drained; ok is false when no node's uplink is lost (nothing to retry).
func withoutLostUplinks(v *clusterView, spec allocator.Spec) (allocator.Spec, bool) {
	out := spec
	out.Nodes = slices.Clone(spec.Nodes)
	changed := false
	for i := range out.Nodes {
		if n := &out.Nodes[i]; !n.Drained && !n.Offline && uplinkLost(v, n.Name) {
			n.Drained, changed = true, true
		}
	}
	return out, changed
}

// errAllocSnapshot marks a cluster snapshot the allocator refused (an
// internal error, not the request's fault).
var errAllocSnapshot = errors.New("allocator snapshot")

// placePreferringUplink builds the allocator's cluster of spec and runs place
// on it: first without the nodes whose uplink is lost, and on spec itself
// when that found no fit (allocator.ErrNoFit) or no node's uplink is lost. A
// snapshot the allocator refuses is an error wrapping errAllocSnapshot.
func placePreferringUplink(v *clusterView, spec allocator.Spec, place func(*allocator.Cluster) error) error {
	try := func(s allocator.Spec) error {
		c, err := allocator.NewCluster(s)
		if err != nil {
			return fmt.Errorf("%w: %w", errAllocSnapshot, err)
		}
		return place(c)
	}
	if avoid, ok := withoutLostUplinks(v, spec); ok {
		if err := try(avoid); !errors.Is(err, allocator.ErrNoFit) {
			return err
		}
	}
	return try(spec)
}
