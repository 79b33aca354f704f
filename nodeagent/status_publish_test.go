package nodeagent

import (
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// TestStatusWriterDue: the publish loop writes the first status of a
// lease, a changed status and, after the heartbeat, an unchanged one; a
// status that differs only in published_at is not written again.
func TestStatusWriterDue(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	st := keys.NodeStatus{Hypervisor: "fake", HypervisorOK: true, Resources: api.NodeResources{CPUs: 4, MemoryFreeMiB: 1000}, PublishedAt: t0}
	var w statusWriter
	write := func(st keys.NodeStatus, now time.Time) bool {
		due, b := w.due(st, now, time.Minute)
		if due {
			w.last, w.at = b, now
		}
		return due
	}
	if !write(st, t0) {
		t.Fatal("first status not written")
	}
	st.PublishedAt = t0.Add(15 * time.Second)
	if write(st, t0.Add(15*time.Second)) {
		t.Error("status with only a new published_at written")
	}
	st.Uplink = &api.UplinkStatus{Targets: []string{"192.0.2.1"}, OK: true, CheckedAt: t0}
	if !write(st, t0.Add(20*time.Second)) {
		t.Error("status with a new uplink not written")
	}
	st.Uplink = &api.UplinkStatus{Targets: []string{"192.0.2.1"}, OK: true, CheckedAt: t0.Add(time.Second)}
	if write(st, t0.Add(25*time.Second)) {
		t.Error("status with only a new uplink checked_at written")
	}
	st.Resources.MemoryFreeMiB = 900
	if !write(st, t0.Add(30*time.Second)) {
		t.Error("status with new free memory not written")
	}
	if write(st, t0.Add(89*time.Second)) {
		t.Error("unchanged status written before the heartbeat")
	}
	if !write(st, t0.Add(90*time.Second)) {
		t.Error("unchanged status not written at the heartbeat")
	}
}
