package main

import "testing"

func TestParseHABE(t *testing.T) {
	ha, rest, err := parseHABE("vcpus=2, ha_priority=-5,memory=1G,migration_threshold=3")
	if err != nil || *ha.HAPriority != -5 || *ha.MigrationThreshold != 3 || rest != "vcpus=2,memory=1G" {
		t.Fatalf("parseHABE: %+v %q %v", ha, rest, err)
	}
	if ha, rest, err = parseHABE("memory=1G"); err != nil || !(ha.HAPriority == nil && ha.MigrationThreshold == nil) || rest != "memory=1G" {
		t.Fatalf("parseHABE without HA: %+v %q %v", ha, rest, err)
	}
	for _, in := range []string{"ha_priority=high", "ha_priority=", "migration_threshold=-1", "migration_threshold=x"} {
		if _, _, err := parseHABE(in); err == nil {
			t.Errorf("parseHABE(%q) accepted", in)
		}
	}
}

func TestParseHABELocationFailback(t *testing.T) {
	ha, rest, err := parseHABE("location=node1:100,node2:50, node3:-INFINITY,memory=1G,failback=on")
	if err != nil || rest != "memory=1G" || ha.Failback == nil || !*ha.Failback || ha.Location == nil {
		t.Fatalf("parseHABE: %+v %q %v", ha, rest, err)
	}
	if loc := *ha.Location; len(loc) != 3 || loc["node1"] != 100 || loc["node2"] != 50 || loc["node3"] != -1000000 {
		t.Errorf("location %v", loc)
	}
	if got := fmtLocation(*ha.Location); got != "node1:100,node2:50,node3:-INFINITY" {
		t.Errorf("fmtLocation: %q", got)
	}
	if ha, _, err = parseHABE("location=,failback=off"); err != nil || ha.Location == nil || len(*ha.Location) != 0 || *ha.Failback {
		t.Errorf("clearing location, failback off: %+v %v", ha, err)
	}
	for _, in := range []string{"failback=maybe", "location=node1", "location=node1:x", "location=node1:1,node1:2", "location=:5"} {
		if _, _, err := parseHABE(in); err == nil {
			t.Errorf("parseHABE(%q) accepted", in)
		}
	}
}
