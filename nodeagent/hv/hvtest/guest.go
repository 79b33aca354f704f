package hvtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// GuestMarker is what the test guests print once their init runs.
const GuestMarker = "drover-guest-up"

// CacheDir holds downloaded and generated test artifacts between runs:
// $DROVER_TEST_CACHE, else /var/cache/drover-test as root, else
// $XDG_CACHE_HOME/drover-test.
func CacheDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("DROVER_TEST_CACHE")
	if dir == "" && os.Geteuid() == 0 {
		dir = "/var/cache/drover-test"
	}
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(c, "drover-test")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lock serialises test binaries (go test runs packages in parallel) around
// work on one cache entry.
func lock(t testing.TB, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
}

// Kernel returns a Linux kernel image for direct-boot test guests: the
// host's /boot/vmlinuz-* if any, else one extracted from Debian's
// linux-image-6.1.0-N-amd64 package (downloaded once with apt-get download
// into CacheDir/kernel; the package is removed once its vmlinuz is kept).
func Kernel(t testing.TB) string {
	t.Helper()
	if ks, _ := filepath.Glob("/boot/vmlinuz-*"); len(ks) > 0 {
		sort.Strings(ks)
		if f, err := os.Open(ks[len(ks)-1]); err == nil {
			f.Close()
			return ks[len(ks)-1]
		}
	}
	dir := filepath.Join(CacheDir(t), "kernel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "vmlinuz")
	unlock := lock(t, out)
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "linux-image-*.deb"))
	if len(debs) == 0 {
		NeedBinaries(t, "apt-get", "apt-cache", "dpkg-deb", "tar")
		res, err := exec.Command("apt-cache", "search", "--names-only", `^linux-image-6\.1\.0-[0-9]+-amd64$`).Output()
		if err != nil || len(res) == 0 {
			SkipOrFail(t, fmt.Sprintf("no kernel in /boot and apt-cache finds no linux-image-6.1.0-N-amd64 (%v)", err))
		}
		var pkgs []string
		for _, l := range strings.Split(strings.TrimSpace(string(res)), "\n") {
			pkgs = append(pkgs, strings.Fields(l)[0])
		}
		sort.Slice(pkgs, func(i, j int) bool { return abiNum(pkgs[i]) < abiNum(pkgs[j]) })
		cmd := exec.Command("apt-get", "download", pkgs[len(pkgs)-1])
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			SkipOrFail(t, fmt.Sprintf("apt-get download %s: %v: %s", pkgs[len(pkgs)-1], err, b))
		}
		debs, _ = filepath.Glob(filepath.Join(dir, "linux-image-*.deb"))
		if len(debs) == 0 {
			t.Fatalf("apt-get download left no .deb in %s", dir)
		}
	}
	x := filepath.Join(dir, "x")
	os.RemoveAll(x)
	if err := os.MkdirAll(x, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(x)
	sh := fmt.Sprintf("dpkg-deb --fsys-tarfile %q | tar -x -C %q --wildcards './boot/vmlinuz-*'", debs[0], x)
	if b, err := exec.Command("sh", "-c", sh).CombinedOutput(); err != nil {
		t.Fatalf("extract kernel: %v: %s", err, b)
	}
	ks, _ := filepath.Glob(filepath.Join(x, "boot", "vmlinuz-*"))
	if len(ks) == 0 {
		t.Fatalf("no vmlinuz in %s", debs[0])
	}
	if err := os.Rename(ks[0], out); err != nil {
		t.Fatal(err)
	}
	for _, deb := range debs {
		_ = os.Remove(deb) // only the kernel image is needed
	}
	return out
}

func abiNum(pkg string) int {
	var n int
	fmt.Sscanf(strings.TrimPrefix(pkg, "linux-image-6.1.0-"), "%d", &n)
	return n
}

func busybox(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if b, err := os.ReadFile(p); err == nil && isStatic(b) {
			return p
		}
	}
	SkipOrFail(t, "a static busybox is needed (apt-get install busybox-static)")
	return ""
}

// isStatic reports whether an ELF file has no PT_INTERP (no dynamic loader).
func isStatic(b []byte) bool {
	return len(b) > 4 && string(b[:4]) == "\x7fELF" && !strings.Contains(string(b[:min(len(b), 4096)]), "/lib64/ld-linux")
}

// guestInit is the guest's /init: mount the basics, print the marker with
// the hostname, then idle. It ignores ACPI power-button requests (nothing
// listens), which the suite uses to test Shutdown's timeout.
const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
hostname "$(sed -n 's/.*drover.hostname=\([^ ]*\).*/\1/p' /proc/cmdline)"
echo "` + GuestMarker + ` $(hostname)"
while :; do sleep 3600; done
`

// Initramfs returns an uncompressed initramfs with busybox and guestInit,
// built once into the cache. Boot it with
// "console=ttyS0 drover.hostname=NAME".
func Initramfs(t testing.TB) string {
	t.Helper()
	return buildInitramfs(t, "initramfs-busybox.cpio", guestInit)
}

// buildInitramfs writes (once, into the cache) an uncompressed initramfs
// with busybox and init as /init.
func buildInitramfs(t testing.TB, file, init string) string {
	t.Helper()
	bb := busybox(t)
	out := filepath.Join(CacheDir(t), file)
	unlock := lock(t, out)
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	var w cpioWriter
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "sbin", "etc"} {
		w.dir(d)
	}
	w.chardev("dev/console", 5, 1)
	w.chardev("dev/ttyS0", 4, 64)
	w.chardev("dev/null", 1, 3)
	w.file("bin/busybox", 0o755, bin)
	w.symlink("bin/sh", "busybox")
	w.file("init", 0o755, []byte(init))
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, w.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// GuestTick is what test containers print every second after the marker
// (for live console streams, which have no history).
const GuestTick = "drover-guest-tick"

// containerInit is a container's /sbin/init: it prints the marker once,
// then a tick every second, and exits cleanly on SIGTERM (libvirt's LXC
// shutdown signal).
const containerInit = `#!/bin/sh
trap 'echo stopping; exit 0' TERM INT
echo "` + GuestMarker + ` $(hostname)"
while :; do /bin/busybox sleep 1; echo "` + GuestTick + ` $(hostname)"; done
`

// ContainerRoot makes a busybox root filesystem for LXC test containers
// under a new temporary directory and returns it.
func ContainerRoot(t testing.TB) string {
	t.Helper()
	bb := busybox(t)
	root := filepath.Join(ShortTempDir(t), "root")
	for _, d := range []string{"bin", "sbin", "dev", "proc", "sys", "tmp", "etc", "run", "root", "var"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"sbin/init": containerInit, "etc/hostname": "container\n", "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"}
	for p, body := range files {
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"sh", "sleep", "echo", "hostname", "cat", "ls", "ps"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", l)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
