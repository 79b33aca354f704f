package templates

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"
)

// writeOS writes an OS definition named name under base with the given
// files (scripts are made executable).
func writeOS(t *testing.T, base, name string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, c := range files {
		mode := os.FileMode(0o644)
		if slices.Contains([]string{"create", "import", "export", "rename", "verify"}, n) {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestListAndFindOS(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	create := "#!/bin/sh\nexit 0\n"
	writeOS(t, first, "deb", map[string]string{"ganeti_api_version": "20\n", "variants.list": "default\nslim\n",
		"parameters.list": "filesystem root fs\ndhcp yes or no\n", "create": create})
	writeOS(t, second, "deb", map[string]string{"ganeti_api_version": "20\n", "create": create}) // shadowed
	writeOS(t, second, "plain", map[string]string{"ganeti_api_version": "20\n", "create": create})
	writeOS(t, second, "old", map[string]string{"ganeti_api_version": "10\n", "create": create})
	os.MkdirAll(filepath.Join(second, "not-an-os"), 0o755)
	path := []string{first, second, filepath.Join(t.TempDir(), "missing")}

	list := ListOS(path)
	var names []string
	for _, o := range list {
		names = append(names, o.Name)
	}
	if !slices.Equal(names, []string{"deb", "old", "plain"}) {
		t.Fatalf("ListOS names %v", names)
	}
	if d := list[0]; d.Dir != filepath.Join(first, "deb") || !slices.Equal(d.Refs(), []string{"deb+default", "deb+slim"}) || d.Parameters["dhcp"] != "yes or no" {
		t.Errorf("deb: %+v refs %v", d, d.Refs())
	}
	if o := list[1]; o.Error == "" || o.Refs() != nil {
		t.Errorf("API-10-only OS listed as valid: %+v", o)
	}
	if p := list[2]; !slices.Equal(p.Refs(), []string{"plain"}) {
		t.Errorf("plain refs %v", p.Refs())
	}

	cases := []struct {
		ref, variant string
		err          error
	}{
		{"deb+slim", "slim", nil},
		{"deb+default", "default", nil},
		{"deb", "", ErrInvalid},           // has variants: one must be named
		{"deb+huge", "", ErrInvalid},      // no such variant
		{"plain", "", nil},                // no variants
		{"plain+default", "", ErrInvalid}, // variant on an OS without any
		{"old", "", ErrInvalid},           // no API 20
		{"nope+x", "", ErrNotFound},
		{"../etc+x", "", ErrInvalid},
	}
	for _, c := range cases {
		d, v, err := FindOS(path, c.ref)
		if !errors.Is(err, c.err) || v != c.variant || (err == nil) != (d != nil) {
			t.Errorf("FindOS(%q) = %v, %q, %v; want variant %q, err %v", c.ref, d, v, err, c.variant, c.err)
		}
	}
	if err := list[0].CheckParams(map[string]string{"dhcp": "no"}); err != nil {
		t.Errorf("known parameter: %v", err)
	}
	if err := list[0].CheckParams(map[string]string{"size": "1"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "dhcp, filesystem") {
		t.Errorf("unknown parameter: %v", err)
	}
}

// TestOSExportImport: export writes the disk's dump on stdout, import reads
// it on stdin, each told which disk by *_INDEX, *_DISK_PATH and *_DEVICE.
func TestOSExportImport(t *testing.T) {
	base := t.TempDir()
	writeOS(t, base, "stream", map[string]string{
		"ganeti_api_version": "20\n",
		"create":             "#!/bin/sh\nexit 0\n",
		"export":             "#!/bin/sh\nset -e\n[ \"$EXPORT_DEVICE\" = \"$EXPORT_DISK_PATH\" ]\necho \"exporting disk $EXPORT_INDEX\" >&2\ngzip -c < \"$EXPORT_DEVICE\"\n",
		"import":             "#!/bin/sh\nset -e\n[ \"$IMPORT_DEVICE\" = \"$IMPORT_DISK_PATH\" ]\necho \"importing disk $IMPORT_INDEX\" >&2\ngunzip -c > \"$IMPORT_DEVICE\"\n",
	})
	d, _, err := FindOS([]string{base}, "stream")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src1"), filepath.Join(dir, "dst1")
	data := bytes.Repeat([]byte("drover disk contents\n"), 5000)
	os.WriteFile(src, data, 0o600)
	inst := OSInstance{Name: "web1", Hypervisor: "kvm", Disks: []OSDisk{{Path: filepath.Join(dir, "src0")}, {Path: src}}}
	ctx := testCtx(t, time.Minute)
	var dump, msgs bytes.Buffer
	if err := d.Export(ctx, inst, 1, &dump, &msgs); err != nil {
		t.Fatal(err)
	}
	if msgs.String() != "exporting disk 1\n" || dump.Len() == 0 || dump.Len() >= len(data) {
		t.Fatalf("export: messages %q, %d bytes of dump for %d bytes of disk", msgs.String(), dump.Len(), len(data))
	}
	inst.Disks[1].Path = dst
	msgs.Reset()
	if err := d.Import(ctx, inst, 1, &dump, &msgs); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) || msgs.String() != "importing disk 1\n" {
		t.Fatalf("import: %d bytes back (want %d), messages %q", len(got), len(data), msgs.String())
	}
	if err := d.Export(ctx, inst, 2, &dump, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("export of disk 2 of 2 = %v", err)
	}
	// A failing script's error carries its last messages.
	err = d.Import(ctx, inst, 0, strings.NewReader("not gzip"), nil)
	if err == nil || !strings.Contains(err.Error(), "importing disk 0") {
		t.Errorf("failed import = %v", err)
	}
}

// TestDebianInstanceDebootstrap reads Debian's ganeti-instance-debootstrap
// as installed (unchanged) and runs its verify script through Verify.
func TestDebianInstanceDebootstrap(t *testing.T) {
	if _, err := os.Stat("/usr/share/ganeti/os/debootstrap/create"); err != nil {
		realtest.Need(t, "ganeti-instance-debootstrap not installed")
	}
	var deb *OSInfo
	for _, o := range ListOS(DefaultOSSearchPath) {
		if o.Name == "debootstrap" {
			deb = &o
		}
	}
	if deb == nil || deb.Error != "" || !slices.Contains(deb.Refs(), "debootstrap+default") || deb.Parameters["filesystem"] == "" {
		t.Fatalf("debootstrap as listed: %+v", deb)
	}
	d, variant, err := FindOS(DefaultOSSearchPath, "debootstrap+default")
	if err != nil || variant != "default" {
		t.Fatalf("FindOS: %v %q", err, variant)
	}
	for _, s := range []string{"create", "import", "export", "rename", "verify"} {
		if !d.Scripts[s] {
			t.Errorf("script %s not found executable", s)
		}
	}
	inst := OSInstance{Name: "web1", Variant: variant, Hypervisor: "kvm", Params: map[string]string{"filesystem": "ext4"}}
	ctx := testCtx(t, time.Minute)
	if err := d.Verify(ctx, inst, nil); err != nil {
		t.Errorf("verify filesystem=ext4: %v", err)
	}
	inst.Params["filesystem"] = "vfat"
	if err := d.Verify(ctx, inst, nil); err == nil || !strings.Contains(err.Error(), "Invalid value 'vfat'") {
		t.Errorf("verify filesystem=vfat = %v", err)
	}
}

// TestBootFromDisk copies the kernel and initrd out of a bare ext4 disk and
// out of the first partition of an MBR disk (the two layouts
// instance-debootstrap makes: PARTITION_STYLE none and msdos), without
// mounting either.
func TestBootFromDisk(t *testing.T) {
	realtest.NeedBinaries(t, "mkfs.ext4", "debugfs", "sfdisk")
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "boot"), 0o755)
	for n, c := range map[string]string{"vmlinuz-6.1.0-9-amd64": "old kernel", "vmlinuz-6.1.0-10-amd64": "new kernel",
		"initrd.img-6.1.0-10-amd64": "new initrd", "initrd.img-6.1.0-9-amd64": "old initrd", "config-6.1.0-10-amd64": "x"} {
		os.WriteFile(filepath.Join(tree, "boot", n), []byte(c), 0o644)
	}
	ctx := testCtx(t, time.Minute)
	for _, style := range []string{"none", "msdos"} {
		t.Run(style, func(t *testing.T) {
			disk := filepath.Join(t.TempDir(), "disk0")
			if err := makeSparse(disk, 64<<20); err != nil {
				t.Fatal(err)
			}
			args := []string{"-q", "-F", "-d", tree, disk}
			wantRoot := "/dev/vda"
			if style == "msdos" {
				sf := exec.Command("sfdisk", "-q", disk)
				sf.Stdin = strings.NewReader("2048,,L,*\n")
				if out, err := sf.CombinedOutput(); err != nil {
					t.Fatalf("sfdisk: %v %s", err, out)
				}
				args = []string{"-q", "-F", "-E", "offset=1048576", "-d", tree, disk, "60M"}
				wantRoot = "/dev/vda1"
			}
			if out, err := exec.Command("mkfs.ext4", args...).CombinedOutput(); err != nil {
				t.Fatalf("mkfs.ext4: %v %s", err, out)
			}
			out := filepath.Join(t.TempDir(), "boot")
			b, err := BootFromDisk(ctx, disk, out)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := os.ReadFile(b.Kernel)
			i, _ := os.ReadFile(b.Initrd)
			if string(k) != "new kernel" || string(i) != "new initrd" || b.RootDevice("vda") != wantRoot {
				t.Fatalf("got %+v: kernel %q initrd %q root %s", b, k, i, b.RootDevice("vda"))
			}
		})
	}
	empty := filepath.Join(t.TempDir(), "zero")
	makeSparse(empty, 4<<20)
	if _, err := BootFromDisk(ctx, empty, t.TempDir()); !errors.Is(err, ErrInvalid) {
		t.Errorf("a disk of zeros = %v", err)
	}
}
