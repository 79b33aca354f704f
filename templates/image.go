package templates

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// golden is a template prepared once per node for fast installs:
//
//	CACHE/<sha256>/tree/        the unpacked template (read-only, for lookups)
//	CACHE/<sha256>/root.img     ext4 image of tree, as small as fits
//	CACHE/<sha256>/vmlinuz, initrd.img   kernel, when the template has one
//	CACHE/<sha256>/ready        written last
type golden struct {
	dir            string
	tree, image    string
	kernel, initrd string // names inside dir, "" if absent
}

func goldenAt(dir string) *golden {
	g := &golden{dir: dir, tree: filepath.Join(dir, "tree"), image: filepath.Join(dir, "root.img")}
	if isRegular(filepath.Join(dir, "vmlinuz")) {
		g.kernel = "vmlinuz"
	}
	if isRegular(filepath.Join(dir, "initrd.img")) {
		g.initrd = "initrd.img"
	}
	return g
}

// ensureGolden returns the prepared template of o.Manifest, preparing it in a
// temp dir renamed into place when it is not there yet (a concurrent install
// that loses the race uses the winner's).
func ensureGolden(ctx context.Context, o InstallOptions, progress func(Progress), log *slog.Logger) (*golden, error) {
	h, err := ParseDigest(o.Manifest.SHA256)
	if err != nil {
		return nil, fmt.Errorf("image cache needs the manifest's sha256: %w", err)
	}
	dir := filepath.Join(o.ImageCache, h)
	if isRegular(filepath.Join(dir, "ready")) {
		return goldenAt(dir), nil
	}
	start := time.Now()
	if err := os.MkdirAll(o.ImageCache, 0o755); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	// Preparations a crash left behind are garbage after a while.
	if old, _ := filepath.Glob(filepath.Join(o.ImageCache, ".prepare-*")); len(old) > 0 {
		for _, p := range old {
			if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > 6*time.Hour {
				os.RemoveAll(p)
			}
		}
	}
	tmp, err := os.MkdirTemp(o.ImageCache, ".prepare-"+h[:12]+"-")
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	g := &golden{dir: tmp, tree: filepath.Join(tmp, "tree"), image: filepath.Join(tmp, "root.img")}
	if err := os.Mkdir(g.tree, 0o755); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	if err := unpackBlob(ctx, o.Artifact, h, o.Manifest, g.tree, progress); err != nil {
		return nil, err
	}
	size, _, _, err := dirStats(g.tree)
	if err != nil {
		return nil, err
	}
	// Room for ext4's metadata and journal; resize2fs grows it per instance.
	imgSize := (size*115/100 + 48<<20 + 4<<20 - 1) &^ (4<<20 - 1)
	if err := makeSparse(g.image, imgSize); err != nil {
		return nil, err
	}
	report(progress, Progress{Step: "mkfs", Percent: -1, Message: "preparing the template image"})
	if err := mkfsExt4(ctx, g.tree, g.image); err != nil {
		return nil, err
	}
	k, i := findKernel(g.tree)
	for _, f := range [][2]string{{k, "vmlinuz"}, {i, "initrd.img"}} {
		if f[0] != "" {
			if err := copyFileOut(g.tree, f[0], filepath.Join(tmp, f[1])); err != nil {
				return nil, err
			}
		}
	}
	if err := writeJSONFile(filepath.Join(tmp, "ready"), map[string]any{
		"template": o.Manifest.Ref(), "image_size": imgSize, "kernel": k, "initrd": i,
	}); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if isRegular(filepath.Join(dir, "ready")) {
			return goldenAt(dir), nil // another install prepared it first
		}
		return nil, fmt.Errorf("image cache: %w", err)
	}
	ok = true
	log.Info("template_image_prepared", "dir", dir, "seconds", time.Since(start).Seconds(), "image_size", imgSize)
	return goldenAt(dir), nil
}

// installFromImage makes tmpDisk from the prepared image: a reflink or sparse
// copy, grown to the disk size with resize2fs, then the instance's files
// written with debugfs (customize against the pristine tree). It returns
// whether a cloud-init seed was written.
func installFromImage(ctx context.Context, g *golden, imageSize int64, o *InstallOptions, tmpDisk string, progress func(Progress), log *slog.Logger) (bool, error) {
	want := o.DiskSizeMiB << 20 // Install made sure it is >= imageSize
	t := time.Now()
	report(progress, Progress{Step: "copy", Percent: -1, Message: "copy template image"})
	cp := command(ctx, "cp", "--reflink=auto", "--sparse=always", g.image, tmpDisk)
	if out, err := cp.CombinedOutput(); err != nil {
		return false, fmt.Errorf("copy image: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if err := os.Chmod(tmpDisk, 0o600); err != nil {
		return false, fmt.Errorf("copy image: %w", err)
	}
	if want > imageSize {
		if err := os.Truncate(tmpDisk, want); err != nil {
			return false, fmt.Errorf("grow image: %w", err)
		}
		rs := command(ctx, "resize2fs", "-f", tmpDisk)
		if out, err := rs.CombinedOutput(); err != nil {
			return false, fmt.Errorf("resize2fs: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	log.Debug("install_image_copied", "seconds", time.Since(t).Seconds())
	t = time.Now()
	report(progress, Progress{Step: "customize", Percent: -1})
	scratch, err := os.MkdirTemp("", "drover-debugfs-")
	if err != nil {
		return false, fmt.Errorf("customize: %w", err)
	}
	defer os.RemoveAll(scratch)
	w := newImageWriter(g.tree, scratch)
	seed, err := customize(ctx, &tree{root: g.tree, w: w}, o, guestVM, log)
	if err != nil {
		return false, fmt.Errorf("customize: %w", err)
	}
	if err := w.apply(ctx, tmpDisk); err != nil {
		return false, fmt.Errorf("customize: %w", err)
	}
	log.Debug("install_image_customized", "seconds", time.Since(t).Seconds())
	return seed, nil
}
