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
	// A drift of free space within a grain (1/200 of the total) is no
	// change; a larger one is.
	st.Resources.DiskTotalMiB, st.Resources.DiskFreeMiB = 200_000, 100_000
	if !write(st, t0.Add(31*time.Second)) {
		t.Error("status with new disk figures not written")
	}
	st.Resources.DiskFreeMiB = 100_000 + 700
	if write(st, t0.Add(32*time.Second)) {
		t.Error("status with free disk drifted by 700 MiB of 200,000 written")
	}
	st.Resources.DiskFreeMiB = 100_000 + 1_200
	if !write(st, t0.Add(33*time.Second)) {
		t.Error("status with free disk grown by 1,200 MiB of 200,000 not written")
	}
	st.Resources.DiskFreeMiB = 100_000 - 1 // just below a grain boundary
	if !write(st, t0.Add(34*time.Second)) {
		t.Error("status with free disk shrunk across a grain not written")
	}
	if write(st, t0.Add(93*time.Second)) {
		t.Error("unchanged status written before the heartbeat")
	}
	if !write(st, t0.Add(94*time.Second)) {
		t.Error("unchanged status not written at the heartbeat")
	}
}
