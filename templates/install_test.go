package templates

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDrover0test0key0000000000000000000000000000 admin@drover"

func TestInstallFile(t *testing.T) {
	requireRoot(t, "zstd", "mkfs.ext4", "debugfs", "resize2fs")
	for _, mode := range []string{"staged", "image-cache"} {
		t.Run(mode, func(t *testing.T) { testInstallFile(t, mode) })
	}
}

// testInstallFile installs the synthetic template onto a file disk, through
// a staging dir and mkfs -d ("staged") or from a prepared image and debugfs
// ("image-cache"), and reads the result back without mounting.
func testInstallFile(t *testing.T, mode string) {
	dir := t.TempDir()
	images := ""
	if mode == "image-cache" {
		images = filepath.Join(dir, "images")
	}
	a := makeArtifact(t, dir, "base", CompressionZstd)
	disk := filepath.Join(dir, "disks", "web1.img")
	os.MkdirAll(filepath.Dir(disk), 0o755)
	kdir := filepath.Join(dir, "kernel")
	var steps []string
	res, err := Install(testCtx(t, time.Minute), InstallOptions{
		Artifact: a.Path, Manifest: a.Manifest, DiskPath: disk, DiskSizeMiB: 64,
		Hostname: "web1", Domain: "example.org", SSHKeys: []string{testKey},
		Network:   NetworkConfig{Address: "192.0.2.10/24", Gateway: "192.0.2.1", DNS: []string{"192.0.2.53"}, MAC: "52:54:00:AA:BB:CC"},
		KernelOut: kdir, ImageCache: images, Logger: testLogger(t),
	}, func(p Progress) { steps = append(steps, p.Step) })
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(disk); err != nil || st.Size() != 64<<20 {
		t.Fatalf("disk: %v %v", st, err)
	}
	cat := func(p string) string { return debugfsCat(t, disk, p) }
	for p, want := range map[string]string{
		"/etc/hostname":    "web1\n",
		"/etc/machine-id":  res.MachineID + "\n",
		"/etc/resolv.conf": "# written by drover\nnameserver 192.0.2.53\n",
	} {
		if got := cat(p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(res.MachineID) {
		t.Errorf("machine-id %q", res.MachineID)
	}
	if h := cat("/etc/hosts"); !strings.Contains(h, "192.0.2.10\tweb1.example.org web1\n") {
		t.Errorf("/etc/hosts = %q", h)
	}
	if k := cat("/root/.ssh/authorized_keys"); k != testKey+"\n" {
		t.Errorf("authorized_keys = %q", k)
	}
	if st := debugfsStat(t, disk, "/root/.ssh/authorized_keys"); !strings.Contains(st, "Mode:  0600") {
		t.Errorf("authorized_keys stat: %s", st)
	}
	if st := debugfsStat(t, disk, "/root/.ssh"); !strings.Contains(st, "Mode:  0700") {
		t.Errorf(".ssh stat: %s", st)
	}
	if f := cat("/etc/fstab"); !strings.Contains(f, "/dev/vda\t/\text4") {
		t.Errorf("fstab = %q", f)
	}
	if n := cat("/etc/systemd/network/10-drover.network"); !strings.Contains(n, "MACAddress=52:54:00:aa:bb:cc") ||
		!strings.Contains(n, "Address=192.0.2.10/24") || !strings.Contains(n, "Gateway=192.0.2.1") {
		t.Errorf("networkd file = %q", n)
	}
	for _, p := range []string{
		"/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service",
		"/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
	} {
		if st := debugfsStat(t, disk, p); !strings.Contains(st, "Type: symlink") {
			t.Errorf("%s not a symlink: %s", p, st)
		}
	}
	// Ownership and device nodes survive the round trip.
	if st := debugfsStat(t, disk, "/etc/group"); !strings.Contains(st, "Group:    42") {
		t.Errorf("/etc/group owner lost: %s", st)
	}
	if st := debugfsStat(t, disk, "/dev/null"); !strings.Contains(st, "Type: character special") {
		t.Errorf("/dev/null: %s", st)
	}
	// The template's SSH host key is gone (fresh ones were made if ssh-keygen exists).
	if strings.Contains(debugfsStat(t, disk, "/etc/ssh/ssh_host_ed25519_key"), "Size: 26") {
		t.Error("template's ssh host key copied to the instance")
	}
	if _, err := exec.LookPath("ssh-keygen"); err == nil {
		if pub := cat("/etc/ssh/ssh_host_ed25519_key.pub"); !strings.HasSuffix(pub, " root@web1\n") {
			t.Errorf("fresh host key = %q", pub)
		}
	}
	// The newest kernel and its initrd, extracted for direct boot.
	if res.Kernel != filepath.Join(kdir, "vmlinuz") || res.Initrd != filepath.Join(kdir, "initrd.img") || res.Cmdline != DefaultCmdline {
		t.Errorf("result = %+v", res)
	}
	for p, want := range map[string]string{res.Kernel: "new kernel\n", res.Initrd: "new initrd\n"} {
		if b, err := os.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", p, b, err)
		}
	}
	if res.CloudInitSeed {
		t.Error("cloud-init seed written for a template without cloud-init")
	}
	// Nothing else left beside the disk (no staging, no temp files).
	if ents, _ := os.ReadDir(filepath.Dir(disk)); len(ents) != 1 {
		t.Errorf("disk dir holds %d entries, want 1", len(ents))
	}
	// The host's /run was not written through the template's absolute symlink.
	if _, err := os.Lstat("/run/systemd/resolve/stub-resolv.conf.drover-tmp"); err == nil {
		t.Error("wrote into the host")
	}
	if !strings.Contains(strings.Join(steps, ","), "unpack") || !strings.Contains(strings.Join(steps, ","), "mkfs") {
		t.Errorf("progress steps %v", steps)
	}
	if images != "" {
		tree := filepath.Join(images, a.Manifest.SHA256, "tree")
		if b, err := os.ReadFile(filepath.Join(tree, "etc/hostname")); err != nil || string(b) != "localhost\n" {
			t.Errorf("pristine tree changed: hostname %q, %v", b, err)
		}
		if out, err := exec.Command("e2fsck", "-fn", disk).CombinedOutput(); err != nil {
			t.Errorf("e2fsck after debugfs writes: %v\n%s", err, out)
		}
	}

	// A second install onto the same path is refused without Overwrite, and
	// replaces the disk with it.
	o := InstallOptions{Artifact: a.Path, Manifest: a.Manifest, DiskPath: disk, DiskSizeMiB: 64, Hostname: "web2", ImageCache: images, Logger: testLogger(t)}
	if _, err := Install(testCtx(t, time.Minute), o, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("install over an existing disk = %v, want ErrExists", err)
	}
	o.Overwrite = true
	if _, err := Install(testCtx(t, time.Minute), o, nil); err != nil {
		t.Fatal(err)
	}
	if got := cat("/etc/hostname"); got != "web2\n" {
		t.Errorf("reinstalled hostname = %q", got)
	}
}

// TestInstallFailureLeavesNothing: a failed install undoes every step; a
// failed reinstall leaves the old disk and kernel as they were.
func TestInstallFailureLeavesNothing(t *testing.T) {
	requireRoot(t, "zstd", "mkfs.ext4", "debugfs")
	dir := t.TempDir()
	a := makeArtifact(t, dir, "base", CompressionZstd)
	for _, tc := range []struct {
		name string
		mod  func(*InstallOptions)
		want error
	}{
		{"checksum", func(o *InstallOptions) { o.Manifest.SHA256 = strings.Repeat("0", 64) }, ErrChecksum},
		{"disk too small for mkfs", func(o *InstallOptions) { o.Manifest.UnpackedSize = 0; o.DiskSizeMiB = 1 }, nil},
		{"disk too small", func(o *InstallOptions) { o.DiskSizeMiB = 1 }, ErrInvalid},
		{"bad hostname", func(o *InstallOptions) { o.Hostname = "web_1" }, ErrInvalid},
		{"bad key", func(o *InstallOptions) { o.SSHKeys = []string{"ssh-rsa AAAA\nevil"} }, ErrInvalid},
		{"bad address", func(o *InstallOptions) { o.Network.Address = "10.0.0.300/24" }, ErrInvalid},
		{"canceled", func(o *InstallOptions) {}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := filepath.Join(t.TempDir(), "node")
			os.MkdirAll(work, 0o755)
			o := InstallOptions{Artifact: a.Path, Manifest: a.Manifest, DiskPath: filepath.Join(work, "d.img"),
				DiskSizeMiB: 64, Hostname: "web1", KernelOut: filepath.Join(work, "kernel"), Logger: testLogger(t)}
			tc.mod(&o)
			ctx := testCtx(t, time.Minute)
			if tc.name == "canceled" {
				c, cancel := contextWithCancel(ctx)
				cancel()
				ctx = c
			}
			_, err := Install(ctx, o, nil)
			if err == nil {
				t.Fatal("install succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var left []string
			filepath.Walk(work, func(p string, info os.FileInfo, err error) error {
				if p != work {
					left = append(left, p)
				}
				return nil
			})
			// An empty kernel dir may remain; files may not.
			for _, p := range left {
				if p != o.KernelOut {
					t.Errorf("left behind: %s", p)
				}
			}
		})
	}
	// Failed reinstall: the old disk is untouched.
	work := t.TempDir()
	o := InstallOptions{Artifact: a.Path, Manifest: a.Manifest, DiskPath: filepath.Join(work, "d.img"), DiskSizeMiB: 64, Hostname: "old", Logger: testLogger(t)}
	if _, err := Install(testCtx(t, time.Minute), o, nil); err != nil {
		t.Fatal(err)
	}
	o.Overwrite, o.Hostname, o.Manifest.SHA256 = true, "new", strings.Repeat("0", 64)
	if _, err := Install(testCtx(t, time.Minute), o, nil); !errors.Is(err, ErrChecksum) {
		t.Fatalf("reinstall = %v", err)
	}
	if got := debugfsCat(t, o.DiskPath, "/etc/hostname"); got != "old\n" {
		t.Errorf("failed reinstall changed the disk: hostname %q", got)
	}
}

func TestInstallDirContainer(t *testing.T) {
	requireRoot(t, "zstd")
	dir := t.TempDir()
	a := makeArtifact(t, dir, "base", CompressionZstd)
	root := filepath.Join(dir, "lxc", "web1", "rootfs")
	res, err := InstallDir(testCtx(t, time.Minute), root, InstallOptions{
		Artifact: a.Path, Manifest: a.Manifest, Hostname: "web1", SSHKeys: []string{testKey}, Logger: testLogger(t),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if read("etc/hostname") != "web1\n" || read("etc/machine-id") != res.MachineID+"\n" {
		t.Error("hostname or machine-id not written")
	}
	if strings.Contains(read("etc/fstab"), "/dev/vda") {
		t.Error("container fstab mounts /dev/vda")
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service")); err == nil {
		t.Error("serial getty enabled in a container")
	}
	if n := read("etc/systemd/network/10-drover.network"); !strings.Contains(n, "DHCP=yes") || !strings.Contains(n, "Name=eth* en*") {
		t.Errorf("network = %q", n)
	}
	if st, err := os.Stat(filepath.Join(root, "root/.ssh/authorized_keys")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("authorized_keys: %v %v", st, err)
	}
	// Into a non-empty dir: refused, and the dir is left alone.
	if _, err := InstallDir(testCtx(t, time.Minute), root, InstallOptions{Artifact: a.Path, Manifest: a.Manifest, Hostname: "x"}, nil); !errors.Is(err, ErrExists) {
		t.Errorf("non-empty dir = %v", err)
	}
	// A failed install removes the dir.
	bad := filepath.Join(dir, "lxc", "web2")
	m := a.Manifest
	m.SHA256 = strings.Repeat("1", 64)
	if _, err := InstallDir(testCtx(t, time.Minute), bad, InstallOptions{Artifact: a.Path, Manifest: m, Hostname: "web2"}, nil); !errors.Is(err, ErrChecksum) {
		t.Fatalf("bad checksum = %v", err)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("failed InstallDir left its directory")
	}
}

func TestInstallCloudInitSeed(t *testing.T) {
	requireRoot(t, "zstd")
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	makeRootfs(t, root)
	os.WriteFile(filepath.Join(root, "usr/bin/cloud-init"), []byte("#!/bin/sh\n"), 0o755)
	out := filepath.Join(dir, "ci.tar.zst")
	sum, _, err := packDir(testCtx(t, time.Minute), root, out, CompressionZstd, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "ct")
	res, err := InstallDir(testCtx(t, time.Minute), target, InstallOptions{
		Artifact: out, Manifest: Manifest{SHA256: sum}, Hostname: "ci1", Domain: "example.org", SSHKeys: []string{testKey},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.CloudInitSeed {
		t.Fatal("no seed")
	}
	meta, _ := os.ReadFile(filepath.Join(target, "var/lib/cloud/seed/nocloud/meta-data"))
	user, _ := os.ReadFile(filepath.Join(target, "var/lib/cloud/seed/nocloud/user-data"))
	if !strings.Contains(string(meta), "local-hostname: ci1") || !strings.Contains(string(meta), "instance-id: "+res.MachineID) {
		t.Errorf("meta-data = %q", meta)
	}
	if !strings.HasPrefix(string(user), "#cloud-config\n") || !strings.Contains(string(user), "fqdn: ci1.example.org") || !strings.Contains(string(user), testKey) {
		t.Errorf("user-data = %q", user)
	}
}

// TestInstallUnpackedCache: installs from a hard-linked copy of a cached
// unpacked tree never change the cached tree.
func TestInstallUnpackedCache(t *testing.T) {
	requireRoot(t, "zstd", "mkfs.ext4", "debugfs")
	dir := t.TempDir()
	a := makeArtifact(t, dir, "base", CompressionZstd)
	cache := filepath.Join(dir, "unpacked")
	os.MkdirAll(cache, 0o755)
	for _, host := range []string{"web1", "web2"} {
		disk := filepath.Join(dir, host+".img")
		_, err := Install(testCtx(t, time.Minute), InstallOptions{
			Artifact: a.Path, Manifest: a.Manifest, DiskPath: disk, DiskSizeMiB: 64, Hostname: host,
			SSHKeys: []string{testKey}, UnpackedCache: cache, Logger: testLogger(t),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := debugfsCat(t, disk, "/etc/hostname"); got != host+"\n" {
			t.Errorf("%s: hostname %q", host, got)
		}
		if st := debugfsStat(t, disk, "/etc/group"); !strings.Contains(st, "Group:    42") {
			t.Errorf("%s: /etc/group owner lost: %s", host, st)
		}
	}
	tree := filepath.Join(cache, a.Manifest.SHA256)
	for p, want := range map[string]string{"etc/hostname": "localhost\n", "etc/machine-id": "", "etc/ssh/ssh_host_ed25519_key": "OLD KEY FROM THE TEMPLATE\n"} {
		if b, err := os.ReadFile(filepath.Join(tree, p)); err != nil || string(b) != want {
			t.Errorf("cached tree %s = %q, %v: an install wrote into it", p, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(tree, "root/.ssh")); err == nil {
		t.Error("cached tree got root/.ssh")
	}
	if ents, _ := os.ReadDir(cache); len(ents) != 1 {
		t.Errorf("unpacked cache holds %d entries, want 1 (no staging left)", len(ents))
	}
}

// TestInstallImageCacheFailures: a failed preparation leaves no cache entry
// and no disk; a disk smaller than the prepared image is made the slow way.
func TestInstallImageCacheFailures(t *testing.T) {
	requireRoot(t, "zstd", "mkfs.ext4", "debugfs", "resize2fs")
	dir := t.TempDir()
	a := makeArtifact(t, dir, "base", CompressionZstd)
	images := filepath.Join(dir, "images")
	work := filepath.Join(dir, "node")
	os.MkdirAll(work, 0o755)
	bad := a.Manifest
	bad.SHA256 = strings.Repeat("2", 64)
	o := InstallOptions{Artifact: a.Path, Manifest: bad, DiskPath: filepath.Join(work, "d.img"), DiskSizeMiB: 64,
		Hostname: "web1", ImageCache: images, KernelOut: filepath.Join(work, "k"), Logger: testLogger(t)}
	if _, err := Install(testCtx(t, time.Minute), o, nil); !errors.Is(err, ErrChecksum) {
		t.Fatalf("bad checksum = %v", err)
	}
	if ents, _ := os.ReadDir(images); len(ents) != 0 {
		t.Errorf("failed preparation left %d cache entries", len(ents))
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("failed install left %d files", len(ents))
	}
	// A disk smaller than the prepared image (~52 MiB for the synthetic
	// template) is made by unpack and mkfs instead, at its own size.
	o.Manifest = a.Manifest
	o.DiskSizeMiB = 40
	if _, err := Install(testCtx(t, time.Minute), o, nil); err != nil {
		t.Fatalf("disk smaller than the image: %v", err)
	}
	st, err := os.Stat(o.DiskPath)
	if err != nil || st.Size() != 40<<20 {
		t.Fatalf("disk smaller than the image: %v, size %v, want 40 MiB", err, st)
	}
	if out, err := exec.Command("e2fsck", "-fn", o.DiskPath).CombinedOutput(); err != nil {
		t.Errorf("e2fsck of the small disk: %v\n%s", err, out)
	}
	if img, err := os.Stat(filepath.Join(images, a.Manifest.SHA256, "root.img")); err != nil || img.Size() <= st.Size() {
		t.Errorf("prepared image %v (%v) should exist and be larger than the disk", img, err)
	}
}

// TestInstallDigestFromBlobName: a blob named by its digest (Cache, Store)
// is checked and keyed by that name when the manifest carries no sha256.
func TestInstallDigestFromBlobName(t *testing.T) {
	requireRoot(t, "zstd", "mkfs.ext4", "debugfs", "resize2fs")
	dir := t.TempDir()
	a := makeArtifact(t, dir, "base", CompressionZstd)
	blob := filepath.Join(dir, a.Manifest.SHA256)
	if err := os.Rename(a.Path, blob); err != nil {
		t.Fatal(err)
	}
	o := InstallOptions{Artifact: blob, Manifest: Manifest{Name: "base", Version: 1}, DiskPath: filepath.Join(dir, "d.img"),
		DiskSizeMiB: 64, Hostname: "web1", ImageCache: filepath.Join(dir, "images"), Logger: testLogger(t)}
	if _, err := Install(testCtx(t, time.Minute), o, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "images", a.Manifest.SHA256, "ready")); err != nil {
		t.Errorf("image cache not keyed by the blob's name: %v", err)
	}
	wrong := filepath.Join(dir, strings.Repeat("3", 64))
	os.Link(blob, wrong)
	o.Artifact, o.ImageCache, o.DiskPath = wrong, "", filepath.Join(dir, "e.img")
	if _, err := Install(testCtx(t, time.Minute), o, nil); !errors.Is(err, ErrChecksum) {
		t.Errorf("blob under a wrong digest name = %v, want ErrChecksum", err)
	}
}
