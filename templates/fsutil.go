package templates

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// resolveIn resolves rel (slash-separated, relative to root) inside root the
// way a chroot would: symlinks in the directory part, absolute or relative,
// are followed but never leave root. The last component is not followed. A
// template's /etc/resolv.conf -> /run/... must not make Install write into the
// host's /run.
func resolveIn(root, rel string) (string, error) {
	parts := strings.Split(strings.Trim(path.Clean("/"+rel), "/"), "/")
	var cur []string // resolved components below root
	links := 0
	for i := 0; i < len(parts); i++ {
		p := parts[i]
		switch p {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		if i == len(parts)-1 {
			cur = append(cur, p)
			break
		}
		host := filepath.Join(root, filepath.Join(cur...), p)
		fi, err := os.Lstat(host)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			cur = append(cur, p)
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("resolve %s in %s: too many links", rel, root)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", rel, err)
		}
		rest := parts[i+1:]
		tparts := strings.Split(target, "/")
		if path.IsAbs(target) {
			cur = cur[:0]
		}
		parts = append(append([]string{}, tparts...), rest...)
		i = -1
	}
	return filepath.Join(root, filepath.Join(cur...)), nil
}

// existsIn reports whether rel exists inside root (following symlinks inside root).
func existsIn(root, rel string) bool { return existsDepth(root, rel, 0) }

func existsDepth(root, rel string, depth int) bool {
	if depth > 40 {
		return false
	}
	p, err := resolveIn(root, rel)
	if err != nil {
		return false
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return false
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(p)
		if err != nil {
			return false
		}
		if !path.IsAbs(t) {
			t = path.Join(path.Dir("/"+rel), t)
		}
		return existsDepth(root, t, depth+1)
	}
	return true
}

// copyFileOut copies rel (inside root, following symlinks inside root) to dst
// on the host through a temp file; the caller renames it into place.
func copyFileOut(root, rel, dst string) error { return copyOutDepth(root, rel, dst, 0) }

func copyOutDepth(root, rel, dst string, depth int) error {
	if depth > 40 {
		return fmt.Errorf("copy /%s: too many links", rel)
	}
	p, err := resolveIn(root, rel)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		t, _ := os.Readlink(p)
		if !path.IsAbs(t) {
			t = path.Join(path.Dir("/"+rel), t)
		}
		return copyOutDepth(root, t, dst, depth+1)
	}
	in, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("copy /%s: %w", rel, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("copy /%s: %w", rel, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy /%s: %w", rel, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy /%s: %w", rel, err)
	}
	return nil
}

func isRegular(p string) bool {
	fi, err := os.Lstat(p)
	return err == nil && fi.Mode().IsRegular()
}

func removeFile(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
