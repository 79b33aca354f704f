package drbd

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// The testdata files are events2 output recorded in QEMU guests running
// Debian's kernel with DRBD 8.4.11 (drbd-utils 9.22), in the lab recipe of
// docs/drbd.md: a forced primary, a 32 MiB sync, a demotion, the peer's
// promotion.

func TestParseEventRecordedLines(t *testing.T) {
	e, err := ParseEvent("2026-12-01T09:16:05.272053+00:00 change peer-device name:r0 peer-node-id:0 conn-name:peer volume:0 replication:SyncSource received:0 sent:0 out-of-sync:32728 pending:0 unacked:0")
	if err != nil {
		t.Fatal(err)
	}
	if e.Action != "change" || e.Object != "peer-device" || e.Fields["replication"] != "SyncSource" || e.Fields["out-of-sync"] != "32728" || e.Time.IsZero() {
		t.Errorf("parsed %+v", e)
	}
	e, err = ParseEvent("exists -")
	if err != nil || !e.EndOfDump() {
		t.Errorf("exists -: %+v %v", e, err)
	}
	for _, bad := range []string{"", "hello world", "2026-13-01 change resource name:r0", "change resource role:Primary", "change resource name:r0 junk"} {
		if _, err := ParseEvent(bad); !errors.Is(err, ErrBadEvent) {
			t.Errorf("ParseEvent(%q): %v, want ErrBadEvent", bad, err)
		}
	}
}

func replay(t *testing.T, file string) *State {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	s := NewState()
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		e, err := ParseEvent(l)
		if err != nil {
			t.Fatalf("recorded line %q: %v", l, err)
		}
		s.Apply(e)
	}
	return s
}

func TestStateFromRecorded84Primary(t *testing.T) {
	s := replay(t, "events2-84-primary.txt")
	r, ok := s.Resource("r0")
	if !ok {
		t.Fatal("no r0")
	}
	// The recording ends after the demotion and the peer's promotion.
	if r.Role != "Secondary" || r.Disk != "UpToDate" || r.Minor != 0 || r.SizeKiB != 32728 || len(r.Peers) != 1 {
		t.Fatalf("r0 = %+v", r)
	}
	p := r.Peers[0]
	if p.Connection != "Connected" || p.Role != "Primary" || p.PeerDisk != "UpToDate" || p.Replication != "Established" || p.SyncPercent != 100 || p.Name != "peer" {
		t.Errorf("peer = %+v", p)
	}
}

func TestStateSyncProgress(t *testing.T) {
	s := NewState()
	b, _ := os.ReadFile("testdata/events2-84-primary.txt")
	var sawSync bool
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		e, _ := ParseEvent(l)
		s.Apply(e)
		r, _ := s.Resource("r0")
		if len(r.Peers) == 1 && r.Peers[0].Replication == "SyncSource" {
			sawSync = true
			if r.Peers[0].SyncPercent != 0 || r.Peers[0].OutOfSyncKiB != 32728 {
				t.Errorf("at sync start: %+v", r.Peers[0])
			}
		}
	}
	if !sawSync {
		t.Error("the recording's SyncSource phase was not seen")
	}
	// DRBD 9 reports done: during a resync.
	s = NewState()
	for _, l := range []string{
		"exists resource name:r1 role:Primary suspended:no",
		"exists device name:r1 volume:0 minor:3 disk:UpToDate size:65536",
		"exists connection name:r1 peer-node-id:1 conn-name:node2 connection:Connected role:Secondary",
		"exists peer-device name:r1 peer-node-id:1 conn-name:node2 volume:0 replication:SyncSource peer-disk:Inconsistent out-of-sync:40000 done:38.96",
		"exists -",
	} {
		e, err := ParseEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		s.Apply(e)
	}
	r, _ := s.Resource("r1")
	if len(r.Peers) != 1 || r.Peers[0].SyncPercent != 38.96 || r.Peers[0].Name != "node2" || r.Minor != 3 {
		t.Errorf("r1 = %+v", r)
	}
}

func TestStateFromRecorded84Secondary(t *testing.T) {
	s := replay(t, "events2-84-secondary.txt")
	r, _ := s.Resource("r0")
	if r.Role != "Primary" || r.Disk != "UpToDate" || len(r.Peers) != 1 || r.Peers[0].PeerDisk != "UpToDate" || r.Peers[0].Role != "Secondary" {
		t.Errorf("r0 = %+v", r)
	}
}

func TestStateDestroyAndChangeDetection(t *testing.T) {
	s := replay(t, "events2-84-now.txt")
	if len(s.Resources()) != 1 {
		t.Fatalf("resources %+v", s.Resources())
	}
	apply := func(l string) bool {
		e, err := ParseEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		return s.Apply(e)
	}
	if apply("change device name:r0 volume:0 minor:0 read:70000 written:9000") {
		t.Error("a statistics-only change counted as a change")
	}
	if !apply("change resource name:r0 role:Primary") {
		t.Error("a role change did not count")
	}
	if !apply("call helper name:r0 peer-node-id:0 conn-name:peer volume:0 helper:split-brain") {
		t.Error("split-brain helper did not count")
	}
	if r, _ := s.Resource("r0"); !r.SplitBrain {
		t.Error("split brain not recorded")
	}
	apply("destroy connection name:r0 peer-node-id:0 conn-name:peer")
	if r, _ := s.Resource("r0"); len(r.Peers) != 0 {
		t.Errorf("peer kept after destroy: %+v", r)
	}
	if !apply("destroy resource name:r0") || len(s.Resources()) != 0 {
		t.Errorf("resource kept after destroy: %+v", s.Resources())
	}
}

func FuzzParseEvent(f *testing.F) {
	for _, file := range []string{"events2-84-primary.txt", "events2-84-secondary.txt"} {
		b, _ := os.ReadFile("testdata/" + file)
		for _, l := range strings.Split(string(b), "\n") {
			f.Add(l)
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseEvent(line)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("error %v does not wrap ErrBadEvent", err)
			}
			return
		}
		s := NewState()
		s.Apply(e)
		_ = s.Resources()
	})
}
