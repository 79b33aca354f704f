package master

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// The kinds of InstanceHAEvent.
const (
	haEventNoFit         = "failover_no_fit"
	haEventBanned        = "failover_banned"
	haEventFailoverDone  = "failover_done"
	haEventFailoverError = "failover_failed"
	haEventStartFailed   = "start_failed"
	haEventPromoteFailed = "promote_failed"
	haEventCleanup       = "cleanup"
	haEventFailbackDone  = "failback_done"
	haEventFailbackError = "failback_failed"
)

// instanceHA reads the HA record of rec (an empty one when there is none).
func (m *Master) instanceHA(ctx context.Context, rec *keys.InstanceRecord) (*store.Record[keys.InstanceHARecord], error) {
	r, err := store.Read[keys.InstanceHARecord](ctx, m.client, keys.InstanceHAKey(rec.UUID))
	if errors.Is(err, store.ErrNotFound) {
		return store.New(keys.InstanceHAKey(rec.UUID), keys.InstanceHARecord{Instance: rec.Name}), nil
	}
	if err != nil {
		return nil, unavailable("read instance HA record", err)
	}
	return r, nil
}

// updateHA changes rec's HA record under fence, compare-and-swap, creating
// it when absent (change returns false: nothing to write).
func (m *Master) updateHA(ctx context.Context, fence store.Fence, rec *keys.InstanceRecord, change func(*keys.InstanceHARecord) bool) error {
	for range 10 {
		r, err := m.instanceHA(ctx, rec)
		if err != nil {
			return err
		}
		if !change(&r.Value) {
			return nil
		}
		r.Value.Instance = rec.Name
		var t store.Txn
		if err := r.Put(&t); err != nil {
			return err
		}
		_, err = fence.Commit(ctx, m.client, &t)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write HA record of %s: %w", rec.Name, err)
		}
		return nil
	}
	return fmt.Errorf("write HA record of %s: %w", rec.Name, store.ErrConflict)
}

// addHAEvent appends ev to the record (the last keys.MaxHAEvents kept);
// false when the last event says the same already (a step tried again).
func addHAEvent(ha *keys.InstanceHARecord, ev api.InstanceHAEvent) bool {
	if n := len(ha.Events); n > 0 {
		last := ha.Events[n-1]
		if last.Kind == ev.Kind && last.Node == ev.Node && last.Message == ev.Message {
			return false
		}
	}
	ha.Events = append(ha.Events, ev)
	if over := len(ha.Events) - keys.MaxHAEvents; over > 0 {
		ha.Events = slices.Delete(ha.Events, 0, over)
	}
	return true
}

// haEvent records an event of rec under fence; a failure to record it is
// logged, not returned (the event is also in the log).
func (m *Master) haEvent(ctx context.Context, fence store.Fence, rec *keys.InstanceRecord, kind, node, msg string, log *slog.Logger) {
	ev := api.InstanceHAEvent{Time: time.Now().UTC(), Kind: kind, Node: node, Message: msg}
	if err := m.updateHA(ctx, fence, rec, func(ha *keys.InstanceHARecord) bool { return addHAEvent(ha, ev) }); err != nil {
		log.Warn("ha_event_not_recorded", "instance", rec.Name, "kind", kind, "error", err)
	}
}

// countFailure adds one failure of rec on node (kind: start_failed,
// promote_failed) to its HA record, with an event.
func countFailure(ha *keys.InstanceHARecord, node, kind string, at time.Time, cause error) {
	msg := api.AsError(cause).Message
	byNode := func(f api.InstanceFailCount) bool { return f.Node == node }
	if !slices.ContainsFunc(ha.FailCounts, byNode) {
		ha.FailCounts = append(ha.FailCounts, api.InstanceFailCount{Node: node})
		slices.SortFunc(ha.FailCounts, func(a, b api.InstanceFailCount) int { return cmp.Compare(a.Node, b.Node) })
	}
	i := slices.IndexFunc(ha.FailCounts, byNode)
	ha.FailCounts[i].Count++
	ha.FailCounts[i].LastAt, ha.FailCounts[i].LastError = at, msg
	addHAEvent(ha, api.InstanceHAEvent{Time: at, Kind: kind, Node: node, Message: msg})
}

// stepFailure counts a failed start or promotion of rec on node, from a job
// step: written at once under the step's leadership (not with the step's
// checkpoint, which a failed step does not commit). A step that is run
// again after a leader change may count its failure twice. The failure is
// only logged when it cannot be recorded; the step's error stands.
func (m *Master) stepFailure(ctx context.Context, sc *jobs.StepContext, rec *keys.InstanceRecord, node, kind string, cause error) {
	if ctx.Err() != nil || errors.Is(cause, jobs.ErrLeadershipLost) {
		return // not the node's failure
	}
	fence, err := m.fenceOf(ctx, sc.Epoch)
	if err == nil {
		now := time.Now().UTC()
		err = m.updateHA(ctx, fence, rec, func(ha *keys.InstanceHARecord) bool {
			countFailure(ha, node, kind, now, cause)
			return true
		})
	}
	if err != nil {
		sc.Log.Warn("fail_count_not_recorded", "instance", rec.Name, "node", node, "error", err)
		return
	}
	sc.Logf("%s on %s counted as a failure of %s there (instance cleanup clears it)", kind, node, rec.Name)
}

// failCount is rec's failure count on node.
func failCount(ha *keys.InstanceHARecord, node string) int {
	for _, f := range ha.FailCounts {
		if f.Node == node {
			return f.Count
		}
	}
	return 0
}

// bannedBy is why node may not be rec's target because of its failures
// ("" when it may): migration_threshold reached.
func bannedBy(rec *keys.InstanceRecord, ha *keys.InstanceHARecord, node string) string {
	if t := rec.MigrationThreshold; t > 0 {
		if n := failCount(ha, node); n >= t {
			return fmt.Sprintf("%d failures on %s reach migration_threshold %d (instance cleanup %s --node %s)", n, node, t, rec.Name, node)
		}
	}
	return ""
}
