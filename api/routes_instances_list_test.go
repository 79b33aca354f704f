package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestEncodedListBytes: a list answer made of the instances' cached
// encodings is byte for byte what encoding the page as a whole gave (the
// answer before the encodings were cached): whole records, and fields=
// selections as a map of the selected fields encodes them.
func TestEncodedListBytes(t *testing.T) {
	at := time.Date(2026, 12, 1, 15, 4, 5, 123456789, time.UTC)
	active := false
	page := []Instance{
		{Name: "a1", UUID: "u1", PrimaryNode: "n1", SecondaryNodes: []string{"n2"}, OS: "tiny", OSVersion: 2,
			Hypervisor: "kvm", DiskTemplate: "drbd", Disks: []InstanceDisk{{SizeMiB: 1024}}, NICs: []InstanceNIC{{MAC: "aa:00:00:00:00:01", Link: "br0"}},
			VCPUs: 2, MemoryMiB: 512, AdminState: "up", Status: InstRunning, OperState: "running", ObservedAt: &at,
			Restarts: 3, GaveUp: true, CreatedAt: at, Tags: []string{"web", "<&>\u2028"}, DisksActive: &active},
		{Name: "b\"2", PrimaryNode: "n1", AdminState: "down", Status: InstAdminDown, CreatedAt: at},
	}
	var enc []*EncodedInstance
	for _, in := range page {
		e, err := NewEncodedInstance(in)
		if err != nil {
			t.Fatal(err)
		}
		enc = append(enc, e)
	}
	// selectedMaps is how fields= answers were made before: a map per instance.
	selectedMaps := func(fields []string) []map[string]any {
		out := []map[string]any{}
		for i := range page {
			v := reflect.ValueOf(&page[i]).Elem()
			sel := map[string]any{}
			for _, f := range fields {
				sel[f] = v.FieldByIndex(instanceFields().byName[f].index).Interface()
			}
			out = append(out, sel)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		page   []*EncodedInstance
		fields []string
		want   any
	}{
		{"whole", enc, nil, page},
		{"empty", nil, nil, []Instance{}},
		{"empty fields", nil, []string{"name"}, []map[string]any{}},
		{"fields", enc, []string{"status", "name", "primary_node"}, selectedMaps([]string{"status", "name", "primary_node"})},
		{"every field twice", enc, append(instanceFields().names, instanceFields().names...), selectedMaps(instanceFields().names)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second time from the kept field encodings
				got, err := encodeInstanceList(tc.page, tc.fields)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("got  %s (%v)\nwant %s", got, err, want)
				}
			}
		})
	}
}
