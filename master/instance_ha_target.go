package master

import (
	"cmp"
	"slices"

	"github.com/drover-project/drover/api"
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

// locationScore is rec's location score of node (0 when not given).
func locationScore(rec *keys.InstanceRecord, node string) int { return rec.Location[node] }

// chooseTarget picks rec's failover target among candidates (its DRBD
// secondaries; with DRBD 8.4 there is one): a node where its failures
// reached migration_threshold, or scored -INFINITY (api.LocationNever), is
// left out; of the others the best location score wins, then the first
// in candidates' order. It returns "" and the reasons when no candidate is
// left.
func chooseTarget(rec *keys.InstanceRecord, ha *keys.InstanceHARecord, candidates []string) (string, []targetRejection) {
	var out []targetRejection
	var ok []string
	for _, n := range candidates {
		switch why := bannedBy(rec, ha, n); {
		case why != "":
			out = append(out, targetRejection{n, why})
		case locationScore(rec, n) <= api.LocationNever:
			out = append(out, targetRejection{n, "location score -INFINITY on " + n})
		default:
			ok = append(ok, n)
		}
	}
	if len(ok) == 0 {
		return "", out
	}
	slices.SortStableFunc(ok, func(a, b string) int { return cmp.Compare(locationScore(rec, b), locationScore(rec, a)) })
	return ok[0], out
}

// preferredNode is where failback=on wants rec to run, among its DRBD
// nodes: the one with the best location score when that is better than
// its current primary's (stickiness 0: a tie stays), else the node it was
// failed over from when that scores no worse. "" when it is where it
// should be.
func preferredNode(rec *keys.InstanceRecord, ha *keys.InstanceHARecord) string {
	cur := rec.PrimaryNode
	best := cur
	for _, n := range diskNodes(rec) {
		if locationScore(rec, n) > locationScore(rec, best) {
			best = n
		}
	}
	if best != cur {
		return best
	}
	if from := ha.FailedOverFrom; from != "" && from != cur && slices.Contains(diskNodes(rec), from) &&
		locationScore(rec, from) >= locationScore(rec, cur) {
		return from
	}
	return ""
}

// failbackTarget is the node rec is to be migrated back to now ("" none):
// failback=on, running, drbd, redundant again (every disk UpToDate on both
// nodes), the preferred node usable (nodeOK) and not excluded by
// migration_threshold or a -INFINITY score.
func failbackTarget(rec *keys.InstanceRecord, ha *keys.InstanceHARecord, redundancy string, nodeOK func(string) bool) string {
	if !rec.Failback || !rec.AdminUp || rec.DiskTemplate != api.DiskTemplateDRBD || rec.CreatingJob != 0 || redundancy != "ok" {
		return ""
	}
	n := preferredNode(rec, ha)
	if n == "" || !nodeOK(n) || locationScore(rec, n) <= api.LocationNever || bannedBy(rec, ha, n) != "" {
		return ""
	}
	return n
}

// awayTarget is the node rec is to be failed over to because its failures
// on its primary reached migration_threshold ("" none): Pacemaker moves a
// resource off a node once its fail-count there reaches the threshold.
// Only an instance that should run and does not (its starts there failed),
// drbd, redundant (its secondary UpToDate), whose secondary is usable and
// not excluded itself.
func awayTarget(rec *keys.InstanceRecord, ha *keys.InstanceHARecord, redundancy string, running bool, nodeOK func(string) bool) string {
	if !rec.AdminUp || running || rec.DiskTemplate != api.DiskTemplateDRBD || rec.CreatingJob != 0 || redundancy != "ok" ||
		bannedBy(rec, ha, rec.PrimaryNode) == "" {
		return ""
	}
	sec := drbdSecondary(rec)
	if t, _ := chooseTarget(rec, ha, []string{sec}); t == "" || !nodeOK(t) {
		return ""
	}
	return sec
}
