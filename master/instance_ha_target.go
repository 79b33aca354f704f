package master

import (
	"cmp"
	"slices"

	"github.com/drover-project/drover/master/keys"
)

// byHAPriority orders instances as the failover controller deals with
// them: highest ha_priority first, then by name (deterministic), so that
// when the survivors cannot hold them all the higher ones get the memory
// first.
func byHAPriority(insts []keys.InstanceRecord) {
	slices.SortStableFunc(insts, func(a, b keys.InstanceRecord) int {
		if c := cmp.Compare(b.HAPriority, a.HAPriority); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
}

// targetRejection is a candidate node the target choice left out, and why.
type targetRejection struct {
	Node, Reason string
}

// chooseTarget picks rec's failover target among candidates (its DRBD
// secondaries; with DRBD 8.4 there is one): a node where its failures
// reached migration_threshold is left out. It returns "" and the reasons
// when no candidate is left.
func chooseTarget(rec *keys.InstanceRecord, ha *keys.InstanceHARecord, candidates []string) (string, []targetRejection) {
	var out []targetRejection
	for _, n := range candidates {
		if why := bannedBy(rec, ha, n); why != "" {
			out = append(out, targetRejection{n, why})
			continue
		}
		return n, out
	}
	return "", out
}
