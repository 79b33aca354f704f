package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/drover-project/drover/api"
)

// TestReadBatchFile reads gnt-instance batch-create's format (the example
// of Ganeti's man page, with drover's templates) and refuses what drover
// cannot honour, naming the instance.
func TestReadBatchFile(t *testing.T) {
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "instances.json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `[
	  {"mode": "create", "instance_name": "instance1.example.com", "disk_template": "file",
	   "os_type": "debootstrap", "disks": [{"size": "1024"}], "nics": [{}], "hypervisor": "kvm"},
	  {"mode": "create", "instance_name": "instance2.example.com", "disk_template": "diskless",
	   "os_type": "debootstrap@2", "nics": [{"link": "br0"}], "pnode": "node3", "start": false,
	   "beparams": {"maxmem": 512, "minmem": 512, "vcpus": 2}, "ip_check": false, "name_check": false}
	]`
	adds, err := readBatchFile(write(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(adds) != 2 {
		t.Fatalf("%d instances, want 2", len(adds))
	}
	a, b := adds[0], adds[1]
	if a.Name != "instance1.example.com" || a.DiskTemplate != "file" || len(a.Disks) != 1 || a.Disks[0].SizeMiB != 1024 ||
		a.OS != "debootstrap" || a.Hypervisor != "kvm" || len(a.NICs) != 1 || a.NoStart {
		t.Errorf("first: %+v", a)
	}
	if b.Node != "node3" || !b.NoStart || b.MemoryMiB != 512 || b.VCPUs != 2 || b.NICs[0].Link != "br0" || b.OS != "debootstrap@2" {
		t.Errorf("second: %+v", b)
	}
	for name, body := range map[string]string{
		"not an array":    `{"instance1": {"template": "drbd"}}`,
		"empty":           `[]`,
		"volume group":    `[{"instance_name": "i1", "disk_template": "file", "os_type": "d", "disks": [{"size": 1024, "vg": "xenvg"}]}]`,
		"unknown":         `[{"instance_name": "i1", "disk_template": "diskless", "os_type": "d", "frobnicate": 1}]`,
		"no template":     `[{"instance_name": "i1", "os_type": "d"}]`,
		"bad name":        `[{"instance_name": "-x-", "disk_template": "diskless", "os_type": "d"}]`,
		"import":          `[{"mode": "import", "instance_name": "i1", "disk_template": "diskless", "os_type": "d"}]`,
		"bad memory unit": `[{"instance_name": "i1", "disk_template": "diskless", "os_type": "d", "beparams": {"maxmem": "lots"}}]`,
	} {
		if _, err := readBatchFile(write(body)); api.CodeOf(err) != api.CodeWrongInput {
			t.Errorf("%s: %v, want wrong_input", name, err)
		}
	}
}
