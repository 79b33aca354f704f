package vmnode

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Kernel is what a node guest boots and loads.
type Kernel struct {
	// Version is the kernel release ("6.1.0-57-amd64").
	Version string
	Vmlinuz string
	// ModulesDir is .../lib/modules/VERSION/kernel.
	ModulesDir string
	// DRBD9Dir holds drbd.ko, drbd_transport_tcp.ko and handshake.ko of
	// DRBD 9 built for this kernel ("" = only the in-tree DRBD 8.4).
	DRBD9Dir string
	// Source says where it came from, for the user.
	Source string
}

// FindKit reads a lab kit directory (kit-VERSION/ with vmlinuz,
// modules/lib/modules/VERSION/kernel and drbd9/).
func FindKit(dir string) (Kernel, error) {
	v := strings.TrimPrefix(filepath.Base(dir), "kit-")
	k := Kernel{Version: v, Vmlinuz: filepath.Join(dir, "vmlinuz"),
		ModulesDir: filepath.Join(dir, "modules", "lib", "modules", v, "kernel"), Source: "kit " + dir}
	for _, p := range []string{k.Vmlinuz, k.ModulesDir} {
		if _, err := os.Stat(p); err != nil {
			return Kernel{}, fmt.Errorf("vmnode: kit %s: %w", dir, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "drbd9", "drbd.ko")); err == nil {
		k.DRBD9Dir = filepath.Join(dir, "drbd9")
	}
	return k, nil
}

var imageRE = regexp.MustCompile(`^linux-image-(6\.1\.0-([0-9]+)-amd64)$`)

// DownloadKernel fetches Debian's newest linux-image-6.1.0-N-amd64 package
// with apt-get download into cacheDir and unpacks it there (once). It carries
// DRBD 8.4 in-tree; DRBD 9 needs a kit.
func DownloadKernel(ctx context.Context, cacheDir string, log *slog.Logger) (Kernel, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "search", "--names-only", `^linux-image-6\.1\.0-[0-9]+-amd64$`).Output()
	if err != nil {
		return Kernel{}, fmt.Errorf("vmnode: apt-cache search: %w", err)
	}
	var best string
	bestN := -1
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if m := imageRE.FindStringSubmatch(f[0]); m != nil {
			if n, _ := strconv.Atoi(m[2]); n > bestN {
				best, bestN = m[1], n
			}
		}
	}
	if best == "" {
		return Kernel{}, fmt.Errorf("vmnode: no linux-image-6.1.0-N-amd64 package in the apt lists (apt-get update?)")
	}
	dir := filepath.Join(cacheDir, "kernel-"+best)
	k := Kernel{Version: best, Vmlinuz: filepath.Join(dir, "boot", "vmlinuz-"+best),
		ModulesDir: filepath.Join(dir, "lib", "modules", best, "kernel"), Source: "Debian package linux-image-" + best}
	if _, err := os.Stat(k.Vmlinuz); err == nil {
		return k, nil
	}
	dl := filepath.Join(cacheDir, "download")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return Kernel{}, err
	}
	log.Info("kernel_download", "package", "linux-image-"+best)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "linux-image-"+best)
	cmd.Dir = dl
	if b, err := cmd.CombinedOutput(); err != nil {
		return Kernel{}, fmt.Errorf("vmnode: apt-get download linux-image-%s: %w: %s", best, err, strings.TrimSpace(string(b)))
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "linux-image-"+best+"_*.deb"))
	if len(debs) == 0 {
		return Kernel{}, fmt.Errorf("vmnode: apt-get download left no .deb in %s", dl)
	}
	slices.Sort(debs)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if b, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[len(debs)-1], tmp).CombinedOutput(); err != nil {
		return Kernel{}, fmt.Errorf("vmnode: dpkg-deb -x: %w: %s", err, strings.TrimSpace(string(b)))
	}
	if err := os.Rename(tmp, dir); err != nil {
		return Kernel{}, err
	}
	os.Remove(debs[len(debs)-1])
	return k, nil
}
