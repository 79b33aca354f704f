package templates

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"
)

// requireRoot skips a test that needs root, unless DROVER_REQUIRE_REAL is set
// (CI): then a missing privilege or tool is a failure, not a skip.
func requireRoot(t testing.TB, tools ...string) {
	t.Helper()
	realtest.NeedRoot(t, "ownership, device nodes")
	realtest.NeedBinaries(t, append([]string{"tar"}, tools...)...)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

const testDpkgStatus = `Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u15
Description: Debian base system miscellaneous files
 a continuation line

Package: busybox-static
Status: install ok installed
Architecture: amd64
Version: 1:1.35.0-4+b3

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
`

// makeRootfs writes a tiny Debian-like root filesystem into dir: busybox as
// /usr/bin/sh, usrmerge symlinks, a fake kernel and initrd, dpkg status,
// systemd-networkd and serial-getty unit stand-ins, a device node, and an
// absolute /etc/resolv.conf symlink that Install must not follow to the host.
func makeRootfs(t testing.TB, dir string) {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		realtest.Need(t, "busybox-static not installed")
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib/systemd/system", "etc/ssh", "boot", "var/lib/dpkg", "root", "dev", "tmp", "run", "proc", "sys"} {
		must(os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(os.Chmod(filepath.Join(dir, "root"), 0o700))
	must(os.Chmod(filepath.Join(dir, "tmp"), 0o1777))
	for _, l := range [][2]string{{"bin", "usr/bin"}, {"sbin", "usr/sbin"}, {"lib", "usr/lib"},
		{"etc/resolv.conf", "/run/systemd/resolve/stub-resolv.conf"}, {"vmlinuz", "boot/vmlinuz-6.1.0-10-amd64"}} {
		must(os.Symlink(l[1], filepath.Join(dir, l[0])))
	}
	b, err := os.ReadFile(bb)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "usr/bin/busybox"), b, 0o755))
	must(os.Symlink("busybox", filepath.Join(dir, "usr/bin/sh")))
	files := map[string]string{
		"etc/passwd":                                   "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":                                    "root:x:0:\n",
		"etc/hostname":                                 "localhost\n",
		"etc/machine-id":                               "",
		"etc/ssh/sshd_config":                          "",
		"etc/ssh/ssh_host_ed25519_key":                 "OLD KEY FROM THE TEMPLATE\n",
		"usr/lib/os-release":                           "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n",
		"var/lib/dpkg/status":                          testDpkgStatus,
		"boot/vmlinuz-6.1.0-9-amd64":                   "old kernel\n",
		"boot/vmlinuz-6.1.0-10-amd64":                  "new kernel\n",
		"boot/initrd.img-6.1.0-10-amd64":               "new initrd\n",
		"boot/initrd.img-6.1.0-9-amd64":                "old initrd\n",
		"usr/lib/systemd/systemd-networkd":             "#!/bin/sh\n",
		"usr/lib/systemd/system/serial-getty@.service": "[Service]\n",
	}
	for p, c := range files {
		must(os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644))
	}
	must(os.Chmod(filepath.Join(dir, "etc/ssh/ssh_host_ed25519_key"), 0o600))
	if os.Geteuid() == 0 {
		must(exec.Command("mknod", "-m", "666", filepath.Join(dir, "dev/null"), "c", "1", "3").Run())
		must(os.Chown(filepath.Join(dir, "etc/group"), 0, 42))
	}
}

// makeArtifact packs a synthetic root filesystem into dir and returns it.
func makeArtifact(t testing.TB, dir, name, compression string) *Artifact {
	t.Helper()
	root := filepath.Join(dir, "rootfs-"+name)
	makeRootfs(t, root)
	size, files, facts, err := dirStats(root)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name+tarballExt(compression))
	sum, n, err := packDir(testCtx(t, time.Minute), root, out, compression, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{Name: name, SHA256: sum, Size: n, Compression: compression, UnpackedSize: size, Files: files, Suite: "bookworm", Tool: "test"}
	facts.apply(&m)
	return &Artifact{Path: out, Manifest: m}
}

// debugfsCat reads a file from an ext4 image without mounting it.
func debugfsCat(t testing.TB, disk, p string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "cat "+p, disk).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", p, err)
	}
	return string(out)
}

// debugfsStat returns debugfs's stat output for p ("" if absent).
func debugfsStat(t testing.TB, disk, p string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "stat "+p, disk).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs stat %s: %v: %s", p, err, out)
	}
	if strings.Contains(string(out), "File not found") {
		return ""
	}
	return string(out)
}

func readAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func contextWithCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}
