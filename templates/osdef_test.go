package templates

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeOSDir writes a Ganeti OS definition whose scripts record their
// environment, in the manner of instance-debootstrap.
func makeOSDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "debootstrap")
	os.MkdirAll(dir, 0o755)
	files := map[string]string{
		"ganeti_api_version": "20\n15\n10\n",
		"variants.list":      "default\nminimal\n",
		"parameters.list":    "filesystem the filesystem to make\n",
		"create":             "#!/bin/sh\nset -e\necho creating $INSTANCE_NAME\nenv | sort > \"$DISK_0_PATH\"\n",
		"rename":             "#!/bin/sh\necho \"$OLD_INSTANCE_NAME -> $INSTANCE_NAME\" > \"$DISK_0_PATH\"\n",
		"verify":             "#!/bin/sh\n[ \"$1\" = parameters ] || exit 2\ncase \"$OSP_FILESYSTEM\" in ext4|xfs|'') exit 0;; *) echo bad filesystem >&2; exit 1;; esac\n",
	}
	for n, c := range files {
		mode := os.FileMode(0o644)
		if !strings.Contains(n, ".") && n != "ganeti_api_version" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestOSDefinition(t *testing.T) {
	dir := makeOSDir(t)
	d, err := LoadOSDefinition(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "debootstrap" || len(d.Variants) != 2 || d.Parameters["filesystem"] != "the filesystem to make" || !d.Scripts["rename"] || d.Scripts["export"] {
		t.Fatalf("loaded %+v", d)
	}
	disk := filepath.Join(t.TempDir(), "disk0")
	inst := OSInstance{Name: "web1", Hypervisor: "kvm", Disks: []OSDisk{{Path: disk, SizeMiB: 1024}},
		NICs: []OSNIC{{MAC: "52:54:00:00:00:01", Mode: "bridged", Link: "br0"}}, Params: map[string]string{"filesystem": "ext4"}}
	var out bytes.Buffer
	ctx := testCtx(t, time.Minute)
	if err := d.Create(ctx, inst, true, &out); err != nil {
		t.Fatal(err)
	}
	env, _ := os.ReadFile(disk)
	for _, want := range []string{"INSTANCE_NAME=web1", "OS_VARIANT=default", "OS_API_VERSION=20", "DISK_COUNT=1",
		"DISK_0_PATH=" + disk, "DISK_0_SIZE=1024", "NIC_0_LINK=br0", "OSP_FILESYSTEM=ext4", "INSTANCE_REINSTALL=1", "HYPERVISOR=kvm"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("create env lacks %s:\n%s", want, env)
		}
	}
	if out.String() != "creating web1\n" {
		t.Errorf("output %q", out.String())
	}
	if err := d.Rename(ctx, inst, "old1", nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(disk); string(b) != "old1 -> web1\n" {
		t.Errorf("rename wrote %q", b)
	}
	if err := d.Verify(ctx, inst, nil); err != nil {
		t.Errorf("verify: %v", err)
	}
	inst.Params["filesystem"] = "fat"
	if err := d.Verify(ctx, inst, nil); err == nil || !strings.Contains(err.Error(), "bad filesystem") {
		t.Errorf("verify of a bad value = %v", err)
	}
	inst.Params = map[string]string{"nope": "x"}
	if err := d.Create(ctx, inst, false, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown parameter = %v", err)
	}
	inst.Params, inst.Variant = nil, "huge"
	if err := d.Create(ctx, inst, false, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown variant = %v", err)
	}
	if err := d.run(ctx, "export", nil, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("missing export script = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "ganeti_api_version"), []byte("10\n"), 0o644)
	if _, err := LoadOSDefinition(dir); !errors.Is(err, ErrInvalid) {
		t.Errorf("API 10 only = %v", err)
	}
}
