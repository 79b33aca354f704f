package api

import (
	"strings"
	"testing"
)

func TestValidInstanceAndUserName(t *testing.T) {
	long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) // 182, a valid hostname
	if err := ValidHostname(long); err != nil {
		t.Fatalf("the 182-character name is a valid hostname: %v", err)
	}
	for name, ok := range map[string]bool{
		"web1": true, "web1.example.com": true, strings.Repeat("a", 63): true,
		strings.Repeat("a", 64): false, long: false, "": false, "we_b": false, "-web": false,
	} {
		if err := ValidInstanceName(name); (err == nil) != ok || (err != nil && CodeOf(err) != CodeWrongInput) {
			t.Errorf("ValidInstanceName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
	add := InstanceAdd{Name: long, DiskTemplate: "diskless", OS: "tiny", VCPUs: 1, MemoryMiB: 64}
	if err := add.Validate(); CodeOf(err) != CodeWrongInput {
		t.Errorf("InstanceAdd with a 182-character name = %v", err)
	}
	ren := InstanceRename{Name: "web1", RenameOptions: RenameOptions{NewName: long}}
	if err := ren.Validate(); CodeOf(err) != CodeWrongInput {
		t.Errorf("rename to a 182-character name = %v", err)
	}
	for name, ok := range map[string]bool{
		"alice": true, "nodeadmin": true, "node": true, "node.node1": false, "NODE.x": false, "Node.node1": false,
	} {
		if err := ValidUserName(name); (err == nil) != ok {
			t.Errorf("ValidUserName(%q) = %v, want ok=%v", name, err, ok)
		}
		if err := (UserAdd{Name: name, Role: RoleRead}).Validate(); (err == nil) != ok {
			t.Errorf("UserAdd{%q}.Validate() = %v, want ok=%v", name, err, ok)
		}
	}
	disk := InstanceAdd{Name: "web1", DiskTemplate: "file", OS: "tiny", VCPUs: 1, MemoryMiB: 64, Disks: []InstanceDisk{{SizeMiB: 1}}}
	if err := disk.Validate(); CodeOf(err) != CodeWrongInput {
		t.Errorf("1 MiB disk = %v", err)
	}
}
