package templates

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"
)

// The real template of the integration test and the benchmark: minbase
// bookworm plus what booting needs (BootInclude). It is built once with
// mmdebstrap (or debootstrap) and cached between runs in a Store under
// $DROVER_TEST_CACHE (default /var/cache/drover-test/templates), keyed by
// suite, variant and the sorted package list.
var (
	realSuite   = "bookworm"
	realVariant = "minbase"
	realOnce    sync.Mutex
)

func realCacheDir() string {
	if d := os.Getenv("DROVER_TEST_CACHE"); d != "" {
		return d
	}
	return "/var/cache/drover-test/templates"
}

// realTemplate returns the cached real template, building it if needed.
func realTemplate(t testing.TB) (*Store, Manifest, string) {
	t.Helper()
	requireRoot(t, "zstd", "mkfs.ext4", "debugfs")
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		requireRoot(t, "debootstrap")
	}
	realOnce.Lock()
	defer realOnce.Unlock()
	inc := slices.Sorted(slices.Values(BootInclude))
	key := sha256.Sum256([]byte(realSuite + "|" + realVariant + "|" + strings.Join(inc, ",")))
	name := "test-" + realSuite + "-" + hex.EncodeToString(key[:])[:12]
	s, err := OpenStore(realCacheDir(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.Get(name); err == nil {
		if p, _ := s.BlobPath(m.Digest()); isRegular(p) {
			t.Logf("cached template %s (%d MB, built %s)", m.Ref(), m.Size>>20, m.BuildDate)
			return s, m, p
		}
	} else if !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	work := filepath.Join(realCacheDir(), "work")
	os.RemoveAll(work)
	defer os.RemoveAll(work)
	start := time.Now()
	var last Progress
	a, err := Build(testCtx(t, 20*time.Minute), BuildOptions{
		Name: name, Suite: realSuite, Variant: realVariant, Include: inc, WorkDir: work, Logger: testLogger(t),
	}, func(p Progress) {
		if p.Step != last.Step || p.Percent-last.Percent >= 10 {
			t.Logf("build progress: %s", p)
			last = p
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Add(testCtx(t, 5*time.Minute), a)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built template %s with %s in %s: %d MB compressed (%s), %d MB unpacked, %d files, %d packages",
		m.Ref(), m.Tool, time.Since(start).Round(time.Second), m.Size>>20, m.Compression, m.UnpackedSize>>20, m.Files, len(m.Packages))
	return s, m, a.Path
}

// TestRealBuildInstall builds (or takes from the cache) a real bookworm
// template, installs it onto a file disk and into an LXC directory, and reads
// the disk back without mounting it (debugfs).
func TestRealBuildInstall(t *testing.T) {
	_, m, blob := realTemplate(t)
	pkgs := map[string]bool{}
	for _, p := range m.Packages {
		pkgs[p.Name] = true
	}
	for _, want := range append([]string{"systemd", "dpkg"}, BootInclude...) {
		if !pkgs[want] {
			t.Errorf("package %s missing from the manifest", want)
		}
	}
	if m.Kernel == "" || m.Initrd == "" || m.Network != "networkd" || m.Suite != realSuite || len(m.SHA256) != 64 {
		t.Errorf("manifest: kernel %q initrd %q network %q suite %q", m.Kernel, m.Initrd, m.Network, m.Suite)
	}

	dir := t.TempDir()
	disk := filepath.Join(dir, "web1.img")
	kdir := filepath.Join(dir, "boot")
	start := time.Now()
	res, err := Install(testCtx(t, 5*time.Minute), InstallOptions{
		Artifact: blob, Manifest: m, DiskPath: disk, DiskSizeMiB: 2048, Hostname: "web1", Domain: "example.org",
		SSHKeys: []string{testKey}, KernelOut: kdir, Logger: testLogger(t),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("install onto a 2 GiB file disk took %s", time.Since(start).Round(time.Millisecond))
	cat := func(p string) string { return debugfsCat(t, disk, p) }
	if got := cat("/etc/hostname"); got != "web1\n" {
		t.Errorf("/etc/hostname = %q", got)
	}
	if got := cat("/etc/machine-id"); got != res.MachineID+"\n" {
		t.Errorf("/etc/machine-id = %q", got)
	}
	if got := cat("/root/.ssh/authorized_keys"); got != testKey+"\n" {
		t.Errorf("authorized_keys = %q", got)
	}
	if got := cat("/usr/lib/os-release"); !strings.Contains(got, "VERSION_CODENAME=bookworm") {
		t.Errorf("os-release = %q", got)
	}
	if !strings.Contains(cat("/etc/fstab"), "/dev/vda") || !strings.Contains(cat("/etc/systemd/network/10-drover.network"), "DHCP=yes") {
		t.Error("fstab or network not written")
	}
	for _, p := range []string{
		"/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service",
		"/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
		"/sbin/init",
	} {
		if st := debugfsStat(t, disk, p); !strings.Contains(st, "Type: symlink") && !strings.Contains(st, "Type: regular") {
			t.Errorf("%s missing: %q", p, st)
		}
	}
	if ls, err := exec.Command("debugfs", "-R", "ls /var/lib/apt/lists", disk).Output(); err != nil || strings.Contains(string(ls), "_Packages") {
		t.Errorf("apt lists not dropped from the template: %s %v", ls, err)
	}
	// A bzImage carries "HdrS" at 0x202; the initrd is non-trivial.
	k, err := os.ReadFile(res.Kernel)
	if err != nil || len(k) < 1<<20 || !bytes.Equal(k[0x202:0x206], []byte("HdrS")) {
		t.Errorf("kernel %s: %d bytes, %v", res.Kernel, len(k), err)
	}
	if st, err := os.Stat(res.Initrd); err != nil || st.Size() < 1<<20 {
		t.Errorf("initrd %s: %v", res.Initrd, err)
	}

	// The image-cache path: prepare once, then copy + resize2fs + debugfs.
	images := filepath.Join(dir, "images")
	for _, host := range []string{"web2", "web3"} {
		start = time.Now()
		d := filepath.Join(dir, host+".img")
		res, err := Install(testCtx(t, 5*time.Minute), InstallOptions{
			Artifact: blob, Manifest: m, DiskPath: d, DiskSizeMiB: 2048, Hostname: host,
			SSHKeys: []string{testKey}, KernelOut: filepath.Join(dir, host+"-boot"), ImageCache: images, Logger: testLogger(t),
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("install of %s with the image cache took %s", host, time.Since(start).Round(time.Millisecond))
		if got := debugfsCat(t, d, "/etc/hostname"); got != host+"\n" {
			t.Errorf("%s: /etc/hostname = %q", host, got)
		}
		if got := debugfsCat(t, d, "/root/.ssh/authorized_keys"); got != testKey+"\n" {
			t.Errorf("%s: authorized_keys = %q", host, got)
		}
		if out, err := exec.Command("e2fsck", "-fn", d).CombinedOutput(); err != nil {
			t.Errorf("%s: e2fsck: %v\n%s", host, err, out)
		}
		if out, err := exec.Command("dumpe2fs", "-h", d).Output(); err != nil || !strings.Contains(string(out), "Block count:              524288") {
			t.Errorf("%s: not grown to 2 GiB: %v", host, err)
		}
		if st, err := os.Stat(res.Kernel); err != nil || st.Size() != int64(len(k)) {
			t.Errorf("%s: kernel %v", host, err)
		}
		os.Remove(d)
	}

	// The same template as an LXC root filesystem.
	start = time.Now()
	root := filepath.Join(dir, "ct1")
	if _, err := InstallDir(testCtx(t, 5*time.Minute), root, InstallOptions{Artifact: blob, Manifest: m, Hostname: "ct1"}, nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("install into an LXC root directory took %s", time.Since(start).Round(time.Millisecond))
	if b, _ := os.ReadFile(filepath.Join(root, "etc/hostname")); string(b) != "ct1\n" {
		t.Errorf("container hostname = %q", b)
	}
}

// BenchmarkInstallFile: install of a file-disk instance from the real
// template (kernel included), excluding guest boot. Goal: <= 5 s.
func BenchmarkInstallFile(b *testing.B) {
	_, m, blob := realTemplate(b)
	b.ReportMetric(float64(m.Size)/(1<<20), "template_MB")
	b.ReportMetric(float64(m.UnpackedSize)/(1<<20), "unpacked_MB")
	// staging=disk: unpack next to the disk; staging=tmpfs: unpack in
	// /dev/shm; unpacked-cache: hard-link a tree unpacked once (the first,
	// untimed install fills the cache).
	for _, staging := range []string{"disk", "tmpfs", "unpacked-cache", "image-cache"} {
		b.Run("staging="+staging, func(b *testing.B) {
			dir := b.TempDir()
			stage, cache, images := "", "", ""
			switch staging {
			case "disk":
				stage = dir
			case "tmpfs":
				if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
					realtest.Need(b, "no /dev/shm")
				}
				stage = "/dev/shm"
			case "unpacked-cache", "image-cache":
				warm := InstallOptions{Artifact: blob, Manifest: m, DiskPath: filepath.Join(dir, "warm.img"), DiskSizeMiB: 2048, Hostname: "warm"}
				if staging == "unpacked-cache" {
					cache = filepath.Join(dir, "unpacked")
					os.MkdirAll(cache, 0o755)
					warm.UnpackedCache = cache
				} else {
					images = filepath.Join(dir, "images")
					warm.ImageCache = images
				}
				start := time.Now()
				if _, err := Install(testCtx(b, 5*time.Minute), warm, nil); err != nil {
					b.Fatal(err)
				}
				b.Logf("first install (fills the %s) took %s", staging, time.Since(start).Round(time.Millisecond))
				os.Remove(filepath.Join(dir, "warm.img"))
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				disk := filepath.Join(dir, "bench.img")
				_, err := Install(testCtx(b, 5*time.Minute), InstallOptions{
					Artifact: blob, Manifest: m, DiskPath: disk, DiskSizeMiB: 2048, Hostname: "bench", Overwrite: true,
					KernelOut: filepath.Join(dir, "boot"), StagingDir: stage, UnpackedCache: cache, ImageCache: images, Logger: testLogger(b),
				}, nil)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRealBuildDebootstrap runs the debootstrap path of Build (minbase, no
// extra packages) when DROVER_TEST_DEBOOTSTRAP is set: the default test run
// builds with mmdebstrap only, to spare CI a second bootstrap.
func TestRealBuildDebootstrap(t *testing.T) {
	if os.Getenv("DROVER_TEST_DEBOOTSTRAP") == "" {
		realtest.Optional(t, "set DROVER_TEST_DEBOOTSTRAP=1 to run debootstrap for real")
	}
	requireRoot(t, "debootstrap", "zstd")
	work := t.TempDir()
	var phases []string
	start := time.Now()
	a, err := Build(testCtx(t, 20*time.Minute), BuildOptions{
		Name: "deboot", Tool: ToolDebootstrap, WorkDir: work, Logger: testLogger(t),
	}, func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Message {
			phases = append(phases, p.Message)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	m := a.Manifest
	t.Logf("debootstrap build took %s: %d MB compressed, %d MB unpacked, %d packages, %d progress messages",
		time.Since(start).Round(time.Second), m.Size>>20, m.UnpackedSize>>20, len(m.Packages), len(phases))
	if m.Tool != ToolDebootstrap || len(m.Packages) < 50 || m.Kernel != "" || len(phases) < 10 {
		t.Errorf("manifest %+v, phases %d", m, len(phases))
	}
	s, err := OpenStore(filepath.Join(work, "store"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	im, err := s.ImportFile(testCtx(t, 5*time.Minute), "deboot", a.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Packages) != len(m.Packages) || im.Suite != "bookworm" || im.Files != m.Files {
		t.Errorf("re-import differs: %d/%d packages, suite %q, %d/%d files", len(im.Packages), len(m.Packages), im.Suite, im.Files, m.Files)
	}
}

// TestRealBuildCancel cancels mmdebstrap midway (with DROVER_TEST_DEBOOTSTRAP
// set, as it downloads): Build returns the context's error and leaves no
// mount and no root filesystem behind.
func TestRealBuildCancel(t *testing.T) {
	if os.Getenv("DROVER_TEST_DEBOOTSTRAP") == "" {
		realtest.Optional(t, "set DROVER_TEST_DEBOOTSTRAP=1 to run the extra real build tests")
	}
	requireRoot(t, "mmdebstrap", "zstd")
	work := t.TempDir()
	var sawInstall bool
	ctx, cancel := contextWithCancel(testCtx(t, 10*time.Minute))
	defer cancel()
	_, err := Build(ctx, BuildOptions{Name: "cancel", Include: BootInclude, WorkDir: work, Logger: testLogger(t)}, func(p Progress) {
		// Cancel once packages are being set up inside the chroot, when
		// mmdebstrap has proc and sys mounted.
		if !sawInstall && strings.HasPrefix(p.Message, "Setting up") {
			sawInstall = true
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Build = %v, want context.Canceled", err)
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(b), work) {
		t.Errorf("mounts left under %s", work)
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("work dir holds %d entries after a canceled build", len(ents))
	}
}
