package api_test

import (
	"testing"

	"github.com/drover-project/drover/api"
)

func TestInstanceHAValidate(t *testing.T) {
	base := api.InstanceAdd{Name: "web1", DiskTemplate: "drbd", OS: "debian", VCPUs: 1, MemoryMiB: 512, Disks: []api.InstanceDisk{{SizeMiB: 1024}}}
	if err := base.Validate(); err != nil {
		t.Fatalf("base: %v", err)
	}
	for _, ha := range []api.InstanceHA{{HAPriority: 10}, {HAPriority: -api.MaxHAPriority}, {MigrationThreshold: 3},
		{Failback: true, Location: map[string]int{"node1": 100, "node2": api.LocationNever}}} {
		a := base
		a.InstanceHA = ha
		if err := a.Validate(); err != nil {
			t.Errorf("%+v refused: %v", ha, err)
		}
	}
	for _, ha := range []api.InstanceHA{{HAPriority: api.MaxHAPriority + 1}, {MigrationThreshold: -1},
		{Location: map[string]int{"no de": 1}}, {Location: map[string]int{"node1": api.LocationInfinity + 1}}} {
		a := base
		a.InstanceHA = ha
		if err := a.Validate(); api.AsError(err).Code != api.CodeWrongInput {
			t.Errorf("%+v: %v, want wrong_input", ha, err)
		}
	}
	neg := -1
	m := api.InstanceModifyOp{Name: "web1", InstanceModify: api.InstanceModify{InstanceHAModify: api.InstanceHAModify{MigrationThreshold: &neg}}}
	if err := m.Validate(); api.AsError(err).Code != api.CodeWrongInput {
		t.Errorf("modify migration_threshold=-1: %v", err)
	}
	prio := 7
	m.MigrationThreshold, m.HAPriority = nil, &prio
	if err := m.Validate(); err != nil {
		t.Errorf("modify ha_priority only: %v", err)
	}
	sip := "192.0.2.20/24@br0"
	m.ServiceIP = &sip
	if err := m.Validate(); err != nil {
		t.Errorf("modify service_ip and ha_priority: %v", err)
	}
	m.HAPriority = nil
	if err := m.Validate(); err != nil {
		t.Errorf("modify service_ip only: %v", err)
	}
	m.ServiceIP = nil
	if err := m.Validate(); api.AsError(err).Code != api.CodeWrongInput {
		t.Errorf("modify without service_ip or HA properties: %v, want wrong_input", err)
	}
	for _, c := range []api.InstanceCleanup{{Name: "web1"}, {Name: "web1", CleanupOptions: api.CleanupOptions{Node: "node1"}}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := (api.InstanceCleanup{Name: "web1", CleanupOptions: api.CleanupOptions{Node: "no de"}}).Validate(); api.AsError(err).Code != api.CodeWrongInput {
		t.Errorf("cleanup of a bad node name: %v", err)
	}
}
