package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullInstance has every member of Instance set (TestDecodeCoversInstance
// checks it stays so when Instance grows).
func fullInstance() Instance {
	at := time.Date(2026, 12, 1, 15, 4, 5, 6, time.FixedZone("x", 3600))
	on := true
	return Instance{Name: "web1", UUID: "u-1", PrimaryNode: "n1", SecondaryNodes: []string{"n2"}, OS: "debian", OSVersion: 3,
		Hypervisor: "kvm", DiskTemplate: "drbd", Disks: []InstanceDisk{{SizeMiB: 1024}}, NICs: []InstanceNIC{{MAC: "aa:00:00:00:00:01", Link: "br0"}, {}},
		VCPUs: 2, MemoryMiB: 2048, AdminState: "up", Status: InstRunning, OperState: "running", ObservedAt: &at, Restarts: 1,
		GaveUp: true, CreatedAt: at.Add(-time.Hour), Tags: []string{"a", "b"}, ServiceIP: "10.0.0.5/24@eth0",
		DRBD:        []InstanceDRBDDisk{{Disk: 0, Resource: "r0", Port: 7789, Nodes: []InstanceDRBDNode{{Node: "n1", Minor: 1, Role: "Primary", SyncPercent: 12.5}}}},
		DisksActive: &on, Redundancy: "ok",
		InstanceHA: InstanceHA{HAPriority: -4, MigrationThreshold: 2, Failback: true, Location: map[string]int{"n1": 100, "n2": LocationNever}},
		HA:         &InstanceHAState{FailedOverFrom: "n3"}}
}

// TestDecodeCoversInstance: every field of fullInstance is set, and every
// member its JSON has is one decodeInstanceList reads itself.
func TestDecodeCoversInstance(t *testing.T) {
	in := fullInstance()
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Anonymous {
				walk(v.Field(i))
			} else if v.Field(i).IsZero() {
				t.Errorf("fullInstance: %s not set", f.Name)
			}
		}
	}
	walk(reflect.ValueOf(in))
	b, _ := json.Marshal(in)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k := range m {
		if _, ok := instanceMembers[k]; !ok {
			t.Errorf("member %q: decodeInstanceList leaves it to json.Unmarshal", k)
		}
	}
	if len(m) != len(instanceMembers) {
		t.Errorf("%d members in the JSON, %d known", len(m), len(instanceMembers))
	}
}

// decodeCases are answers decodeInstanceList must read as json.Unmarshal
// does: lists as the server sends them, and other JSON that takes the
// slow way (escapes, unknown or repeated members, other types, nulls,
// syntax errors).
func decodeCases(t testing.TB) []string {
	full, _ := json.Marshal([]Instance{fullInstance(), {Name: "empty"}, fullInstance()})
	indented, _ := json.MarshalIndent([]Instance{fullInstance()}, " ", "\t")
	one, _ := json.Marshal(fullInstance())
	o := string(one)
	cases := []string{
		string(full), string(indented), string(benchPage(t, 50, nil)),
		string(benchPage(t, 5, []string{"name", "status", "nics"})),
		`[]`, ` [ ] `, `null`, `[{}]`, `[{},{"name":"a"}]`,
		`[` + o + `,{"name":"caf\u00e9","tags":["\u00e9"]}]`,
		`[{"name":"a\"b"}]`, `[{"name":"é"}]`, `[{"Name":"upper"}]`, `[{"name":"a","x":{"y":[1,2]}}]`,
		`[{"name":"a","name":"b"}]`, `[{"location":{"a":1},"location":{"b":2}}]`,
		`[{"name":5}]`, `[{"vcpus":"2"}]`, `[{"vcpus":1.5}]`, `[{"vcpus":1e3}]`, `[{"vcpus":01}]`, `[{"vcpus":-0}]`,
		`[{"memory_mib":123456789012345678901}]`, `[{"vcpus":-}]`, `[{"gave_up":1}]`, `[{"disks_active":null}]`,
		`[{"disks_active":false}]`, `[{"observed_at":null,"created_at":null}]`, `[{"observed_at":"yesterday"}]`,
		`[{"created_at":"2026-12-01T15:00:00Z"}]`, `[{"tags":null,"nics":null,"disks":null,"ha":null,"drbd":null}]`,
		`[{"tags":[null]}]`, `[{"tags":[]}]`, `[{"nics":[]}]`, `[{"nics":[{}]}]`, `[{"nics":[{"mac":"a","mac":"b"}]}]`,
		`[{"nics":[{"mac":"a","vlan":3}]}]`, `[{"nics":[{"mac":"a"},]}]`, `[{"nics":[,{}]}]`, `[{"nics":{}}]`,
		`[{"name":"a",}]`, `[{"name":"a"},]`, `[{"name":"a"}] x`, `[{"name":"a"}`, `[{"name":"a}]`, `[5]`, `[[]]`, `{}`,
		`[{"ha":{"fail_counts":5}}]`, `[{"location":{"a":"b"}}]`, `[{"name":"a\u0000"}]`, "[{\"name\":\"a\x01\"}]",
		`[{"secondary_nodes":["n1","n1"],"primary_node":"n1"}]`, `[{"status":"running"},{"status":"running"}]`,
	}
	return cases
}

func checkDecodeAsUnmarshal(t *testing.T, data string) {
	t.Helper()
	var want []Instance
	werr := json.Unmarshal([]byte(data), &want)
	got, gerr := decodeInstanceList([]byte(data), 3)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%.200s: error %v, json.Unmarshal's %v", data, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%.200s:\n got %#v\nwant %#v", data, got, want)
	}
}

// TestDecodeInstanceListAsUnmarshal compares decodeInstanceList with
// json.Unmarshal on every case (values, nil-ness of slices, errors).
func TestDecodeInstanceListAsUnmarshal(t *testing.T) {
	cases := decodeCases(t)
	for _, c := range cases {
		checkDecodeAsUnmarshal(t, c)
	}
	// Every cut of a list: the syntax errors of a truncated answer.
	full := cases[0]
	for i := 0; i < len(full); i += 7 {
		checkDecodeAsUnmarshal(t, full[:i])
	}
	if !strings.Contains(cases[3], `"status"`) {
		t.Fatal("fields page without status")
	}
}

func FuzzDecodeInstanceList(f *testing.F) {
	for _, c := range decodeCases(f) {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, data string) { checkDecodeAsUnmarshal(t, data) })
}
