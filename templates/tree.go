package templates

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tree is a root filesystem being customised. Reads (symlink resolution,
// existence) look at the directory root; writes go through w: straight into
// root (dirWriter) or, for a cached ext4 image, into a debugfs script that is
// applied to the image later (imageWriter), root then being the pristine
// unpacked template that must not change.
type tree struct {
	root string
	w    treeWriter
}

// treeWriter changes host paths under tree.root (already resolved, no
// symlinks in their directory part).
type treeWriter interface {
	exists(p string) bool
	writeFile(p string, data []byte, mode fs.FileMode) error
	mkdir(p string, mode fs.FileMode) error // one level; an existing dir gets mode
	symlink(p, target string) error         // replaces what is there
	remove(p string) error                  // a missing p is fine
}

func dirTree(root string) *tree { return &tree{root: root, w: dirWriter{}} }

func (t *tree) writeFile(rel string, data []byte, mode fs.FileMode) error {
	p, err := resolveIn(t.root, rel)
	if err != nil {
		return err
	}
	if err := t.mkdirAll(filepath.Dir(p)); err != nil {
		return fmt.Errorf("write /%s: %w", rel, err)
	}
	if err := t.w.writeFile(p, data, mode); err != nil {
		return fmt.Errorf("write /%s: %w", rel, err)
	}
	return nil
}

func (t *tree) mkdir(rel string, mode fs.FileMode) error {
	p, err := resolveIn(t.root, rel)
	if err != nil {
		return err
	}
	if err := t.mkdirAll(filepath.Dir(p)); err != nil {
		return fmt.Errorf("mkdir /%s: %w", rel, err)
	}
	if err := t.w.mkdir(p, mode); err != nil {
		return fmt.Errorf("mkdir /%s: %w", rel, err)
	}
	return nil
}

func (t *tree) symlink(rel, target string) error {
	p, err := resolveIn(t.root, rel)
	if err != nil {
		return err
	}
	if err := t.mkdirAll(filepath.Dir(p)); err != nil {
		return fmt.Errorf("symlink /%s: %w", rel, err)
	}
	if err := t.w.symlink(p, target); err != nil {
		return fmt.Errorf("symlink /%s: %w", rel, err)
	}
	return nil
}

func (t *tree) remove(rel string) error {
	p, err := resolveIn(t.root, rel)
	if err != nil {
		return err
	}
	if err := t.w.remove(p); err != nil {
		return fmt.Errorf("remove /%s: %w", rel, err)
	}
	return nil
}

// exists reports whether rel exists in the template (following symlinks
// inside root).
func (t *tree) exists(rel string) bool { return existsIn(t.root, rel) }

// mkdirAll makes the missing directories of host path p, from root down.
func (t *tree) mkdirAll(p string) error {
	rel, err := filepath.Rel(t.root, p)
	if err != nil || rel == "." {
		return err
	}
	cur := t.root
	for _, c := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, c)
		if !t.w.exists(cur) {
			if err := t.w.mkdir(cur, 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

// dirWriter changes the directory itself.
type dirWriter struct{}

func (dirWriter) exists(p string) bool { _, err := os.Lstat(p); return err == nil }

func (dirWriter) writeFile(p string, data []byte, mode fs.FileMode) error {
	if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	// A new inode, renamed over the old one: a file hard-linked elsewhere
	// is never written through.
	tmp := p + ".drover-tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil { // not masked by umask
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func (dirWriter) mkdir(p string, mode fs.FileMode) error {
	if err := os.Mkdir(p, mode); err != nil && !os.IsExist(err) {
		return err
	}
	return os.Chmod(p, mode)
}

func (dirWriter) symlink(p, target string) error {
	if err := removeFile(p); err != nil {
		return err
	}
	return os.Symlink(target, p)
}

func (dirWriter) remove(p string) error { return removeFile(p) }

// imageWriter records the changes as a debugfs script for an ext4 image whose
// content equals root (the pristine template).
type imageWriter struct {
	root    string
	tmp     string // host files to copy in
	script  bytes.Buffer
	created map[string]bool
	removed map[string]bool
	n       int
}

func newImageWriter(root, tmp string) *imageWriter {
	return &imageWriter{root: root, tmp: tmp, created: map[string]bool{}, removed: map[string]bool{}}
}

func (w *imageWriter) img(p string) (string, error) {
	rel, err := filepath.Rel(w.root, p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("path %s outside %s", p, w.root)
	}
	if strings.ContainsAny(rel, " \t\n\"'\\") {
		return "", fmt.Errorf("path %q: unsupported characters for debugfs: %w", rel, ErrInvalid)
	}
	return "/" + filepath.ToSlash(rel), nil
}

func (w *imageWriter) exists(p string) bool {
	if w.created[p] {
		return true
	}
	if w.removed[p] {
		return false
	}
	_, err := os.Lstat(p)
	return err == nil
}

func (w *imageWriter) cmd(format string, args ...any) { fmt.Fprintf(&w.script, format+"\n", args...) }

func (w *imageWriter) owner(ip string, mode uint32) {
	w.cmd("sif %s mode 0%o", ip, mode)
	w.cmd("sif %s uid 0", ip)
	w.cmd("sif %s gid 0", ip)
}

func (w *imageWriter) writeFile(p string, data []byte, mode fs.FileMode) error {
	ip, err := w.img(p)
	if err != nil {
		return err
	}
	if err := w.remove(p); err != nil {
		return err
	}
	w.n++
	host := filepath.Join(w.tmp, "f"+strconv.Itoa(w.n))
	if err := os.WriteFile(host, data, 0o600); err != nil {
		return err
	}
	w.cmd("write %s %s", host, ip)
	w.owner(ip, 0o100000|uint32(mode.Perm()))
	w.created[p] = true
	return nil
}

func (w *imageWriter) mkdir(p string, mode fs.FileMode) error {
	ip, err := w.img(p)
	if err != nil {
		return err
	}
	if !w.exists(p) {
		w.cmd("mkdir %s", ip)
		w.created[p] = true
	}
	w.owner(ip, 0o040000|uint32(mode.Perm()))
	return nil
}

func (w *imageWriter) symlink(p, target string) error {
	ip, err := w.img(p)
	if err != nil {
		return err
	}
	if strings.ContainsAny(target, " \t\n\"'\\") {
		return fmt.Errorf("symlink target %q: %w", target, ErrInvalid)
	}
	if err := w.remove(p); err != nil {
		return err
	}
	w.cmd("symlink %s %s", ip, target)
	w.created[p] = true
	return nil
}

func (w *imageWriter) remove(p string) error {
	ip, err := w.img(p)
	if err != nil {
		return err
	}
	if w.exists(p) {
		w.cmd("rm %s", ip)
		w.removed[p] = true
		delete(w.created, p)
	}
	return nil
}

// apply runs the script on disk with `debugfs -w`. debugfs exits 0 even when a
// command fails, so any error output fails the apply.
func (w *imageWriter) apply(ctx context.Context, disk string) error {
	script := filepath.Join(w.tmp, "script")
	if err := os.WriteFile(script, w.script.Bytes(), 0o600); err != nil {
		return fmt.Errorf("debugfs script: %w", err)
	}
	cmd := command(ctx, "debugfs", "-w", "-f", script, disk)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debugfs -w: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var errs []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "debugfs ") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("debugfs -w: %s", strings.Join(errs, "; "))
	}
	return nil
}
