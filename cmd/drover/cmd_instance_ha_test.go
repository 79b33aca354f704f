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
