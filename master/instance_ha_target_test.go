package master

import (
	"slices"
	"testing"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// haRec is a running drbd instance on primary with secondary sec.
func haRec(primary, sec string, ha api.InstanceHA) *keys.InstanceRecord {
	return &keys.InstanceRecord{Name: "i1", PrimaryNode: primary, DiskTemplate: api.DiskTemplateDRBD, AdminUp: true, InstanceHA: ha,
		Disks: []keys.DiskSpec{{DRBD: &keys.DRBDDisk{Nodes: []keys.DRBDNode{{Node: primary}, {Node: sec}}}}}}
}

func TestByHAPriority(t *testing.T) {
	in := []keys.InstanceRecord{{Name: "b"}, {Name: "a", InstanceHA: api.InstanceHA{HAPriority: -1}}, {Name: "d", InstanceHA: api.InstanceHA{HAPriority: 3}},
		{Name: "c"}, {Name: "e", InstanceHA: api.InstanceHA{HAPriority: 3}}}
	byHAPriority(in)
	var got []string
	for _, r := range in {
		got = append(got, r.Name)
	}
	if want := []string{"d", "e", "b", "c", "a"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestChooseTarget(t *testing.T) {
	failed := &keys.InstanceHARecord{InstanceHAState: api.InstanceHAState{FailCounts: []api.InstanceFailCount{{Node: "n2", Count: 2}}}}
	for _, c := range []struct {
		name       string
		ha         api.InstanceHA
		rec        *keys.InstanceHARecord
		candidates []string
		want       string
		rejected   int
	}{
		{"one candidate", api.InstanceHA{}, &keys.InstanceHARecord{}, []string{"n2"}, "n2", 0},
		{"threshold off", api.InstanceHA{}, failed, []string{"n2"}, "n2", 0},
		{"below threshold", api.InstanceHA{MigrationThreshold: 3}, failed, []string{"n2"}, "n2", 0},
		{"threshold reached", api.InstanceHA{MigrationThreshold: 2}, failed, []string{"n2"}, "", 1},
		{"threshold reached, another", api.InstanceHA{MigrationThreshold: 2}, failed, []string{"n2", "n3"}, "n3", 1},
		{"-INFINITY", api.InstanceHA{Location: map[string]int{"n2": api.LocationNever}}, &keys.InstanceHARecord{}, []string{"n2"}, "", 1},
		{"best score", api.InstanceHA{Location: map[string]int{"n3": 50, "n4": 100}}, &keys.InstanceHARecord{}, []string{"n2", "n3", "n4"}, "n4", 0},
		{"tie: candidates' order", api.InstanceHA{}, &keys.InstanceHARecord{}, []string{"n3", "n2"}, "n3", 0},
	} {
		rec := haRec("n1", "n2", c.ha)
		got, rej := chooseTarget(rec, c.rec, c.candidates)
		if got != c.want || len(rej) != c.rejected {
			t.Errorf("%s: %q %v, want %q and %d rejected", c.name, got, rej, c.want, c.rejected)
		}
	}
}

func TestFailbackTarget(t *testing.T) {
	from := func(n string) *keys.InstanceHARecord {
		return &keys.InstanceHARecord{InstanceHAState: api.InstanceHAState{FailedOverFrom: n}}
	}
	all := func(string) bool { return true }
	for _, c := range []struct {
		name       string
		ha         api.InstanceHA
		rec        *keys.InstanceHARecord
		redundancy string
		nodeOK     func(string) bool
		want       string
	}{
		{"failback off", api.InstanceHA{}, from("n2"), "ok", all, ""},
		{"back to where it was", api.InstanceHA{Failback: true}, from("n2"), "ok", all, "n2"},
		{"not redundant yet", api.InstanceHA{Failback: true}, from("n2"), "syncing 40%", all, ""},
		{"degraded", api.InstanceHA{Failback: true}, from("n2"), "degraded", all, ""},
		{"node not usable", api.InstanceHA{Failback: true}, from("n2"), "ok", func(string) bool { return false }, ""},
		{"never failed over", api.InstanceHA{Failback: true}, &keys.InstanceHARecord{}, "ok", all, ""},
		{"location prefers it", api.InstanceHA{Failback: true, Location: map[string]int{"n2": 100, "n1": 50}}, &keys.InstanceHARecord{}, "ok", all, "n2"},
		{"location prefers where it is", api.InstanceHA{Failback: true, Location: map[string]int{"n1": 100, "n2": 50}}, from("n2"), "ok", all, ""},
		{"tie stays (stickiness 0 moves only for better)", api.InstanceHA{Failback: true, Location: map[string]int{"n1": 50, "n2": 50}}, &keys.InstanceHARecord{}, "ok", all, ""},
		{"-INFINITY", api.InstanceHA{Failback: true, Location: map[string]int{"n2": api.LocationNever}}, from("n2"), "ok", all, ""},
		{"threshold reached", api.InstanceHA{Failback: true, MigrationThreshold: 1},
			&keys.InstanceHARecord{InstanceHAState: api.InstanceHAState{FailedOverFrom: "n2", FailCounts: []api.InstanceFailCount{{Node: "n2", Count: 1}}}}, "ok", all, ""},
	} {
		rec := haRec("n1", "n2", c.ha)
		if got := failbackTarget(rec, c.rec, c.redundancy, c.nodeOK); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	stopped := haRec("n1", "n2", api.InstanceHA{Failback: true})
	stopped.AdminUp = false
	if got := failbackTarget(stopped, from("n2"), "ok", all); got != "" {
		t.Errorf("stopped instance: %q", got)
	}
}

func TestAwayTarget(t *testing.T) {
	failed := &keys.InstanceHARecord{InstanceHAState: api.InstanceHAState{FailCounts: []api.InstanceFailCount{{Node: "n1", Count: 2}}}}
	all := func(string) bool { return true }
	for _, c := range []struct {
		name       string
		ha         api.InstanceHA
		rec        *keys.InstanceHARecord
		redundancy string
		running    bool
		nodeOK     func(string) bool
		want       string
	}{
		{"threshold reached", api.InstanceHA{MigrationThreshold: 2}, failed, "ok", false, all, "n2"},
		{"threshold off", api.InstanceHA{}, failed, "ok", false, all, ""},
		{"below threshold", api.InstanceHA{MigrationThreshold: 3}, failed, "ok", false, all, ""},
		{"runs after all", api.InstanceHA{MigrationThreshold: 2}, failed, "ok", true, all, ""},
		{"secondary not in sync", api.InstanceHA{MigrationThreshold: 2}, failed, "syncing 10%", false, all, ""},
		{"secondary down", api.InstanceHA{MigrationThreshold: 2}, failed, "ok", false, func(n string) bool { return n != "n2" }, ""},
		{"secondary -INFINITY", api.InstanceHA{MigrationThreshold: 2, Location: map[string]int{"n2": api.LocationNever}}, failed, "ok", false, all, ""},
	} {
		if got := awayTarget(haRec("n1", "n2", c.ha), c.rec, c.redundancy, c.running, c.nodeOK); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
