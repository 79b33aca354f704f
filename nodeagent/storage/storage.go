// Package storage manages an agent's local instance storage: file disks as
// sparse raw files (disk template "file"), kernels for direct boot, container
// root directories and console logs, all under one storage directory:
//
//	DIR/instances/<name>/disk<N>.img   file disks
//	DIR/instances/<name>/boot/         kernel and initrd for direct boot
//	DIR/instances/<name>/rootfs/       LXC root filesystem
//	DIR/instances/<name>/console.log   serial console
//	DIR/templates/                     template cache (by digest)
//	DIR/commands/                      results of finished node commands
package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// Errors; callers test them with errors.Is.
var (
	ErrExists   = errors.New("storage: already exists")
	ErrNotFound = errors.New("storage: not found")
	ErrInvalid  = errors.New("storage: invalid argument")
	ErrNoSpace  = errors.New("storage: not enough free space")
)

// Manager is one node's storage directory.
type Manager struct {
	dir string
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,62})$`)

// New opens (creating) the storage directory.
func New(dir string) (*Manager, error) {
	if dir == "" {
		return nil, fmt.Errorf("storage: directory required: %w", ErrInvalid)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	for _, sub := range []string{"instances", "templates", "commands"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
	}
	return &Manager{dir: abs}, nil
}

// Dir is the storage directory.
func (m *Manager) Dir() string { return m.dir }

// CommandsDir keeps the agent's record of finished node commands.
func (m *Manager) CommandsDir() string { return filepath.Join(m.dir, "commands") }

// TemplateCacheDir is where the agent caches template blobs.
func (m *Manager) TemplateCacheDir() string { return filepath.Join(m.dir, "templates") }

// ImageCacheDir keeps, per template digest, the prepared ext4 image that
// file-disk installs copy (templates.InstallOptions.ImageCache).
func (m *Manager) ImageCacheDir() string { return filepath.Join(m.dir, "images") }

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("storage: instance name %q: %w", name, ErrInvalid)
	}
	return nil
}

// InstanceDir is the directory of an instance's files.
func (m *Manager) InstanceDir(name string) string { return filepath.Join(m.dir, "instances", name) }

// DiskPath is the file of disk i of an instance.
func (m *Manager) DiskPath(name string, i int) string {
	return filepath.Join(m.InstanceDir(name), fmt.Sprintf("disk%d.img", i))
}

// BootDir receives the kernel and initrd for direct boot.
func (m *Manager) BootDir(name string) string { return filepath.Join(m.InstanceDir(name), "boot") }

// RootDir is an LXC instance's root filesystem.
func (m *Manager) RootDir(name string) string { return filepath.Join(m.InstanceDir(name), "rootfs") }

// ConsoleLog is the serial console log of an instance.
func (m *Manager) ConsoleLog(name string) string {
	return filepath.Join(m.InstanceDir(name), "console.log")
}

// Prepare creates the instance directory; it reports whether it made it (so
// a reverter removes only what it created).
func (m *Manager) Prepare(name string) (created bool, err error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	d := m.InstanceDir(name)
	if _, err := os.Stat(d); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return false, fmt.Errorf("storage: %w", err)
	}
	return true, nil
}

// Exists reports whether the instance has a storage directory.
func (m *Manager) Exists(name string) bool {
	_, err := os.Stat(m.InstanceDir(name))
	return err == nil
}

// CreateDisk makes disk i as a sparse file of sizeMiB. An existing disk is
// ErrExists. It checks the filesystem's free space for the full size, so a
// node does not overcommit its storage.
func (m *Manager) CreateDisk(name string, i int, sizeMiB int64) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if sizeMiB <= 0 {
		return "", fmt.Errorf("storage: disk %d of %s: size %d MiB: %w", i, name, sizeMiB, ErrInvalid)
	}
	if _, free, err := m.Usage(); err == nil && free < sizeMiB {
		return "", fmt.Errorf("storage: disk %d of %s: %d MiB wanted, %d MiB free: %w", i, name, sizeMiB, free, ErrNoSpace)
	}
	p := m.DiskPath(name, i)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("storage: disk %s: %w", p, ErrExists)
	}
	if err != nil {
		return "", fmt.Errorf("storage: %w", err)
	}
	err = f.Truncate(sizeMiB << 20)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return "", fmt.Errorf("storage: disk %s: %w", p, err)
	}
	return p, nil
}

// DiskSizeMiB reports the apparent size of disk i.
func (m *Manager) DiskSizeMiB(name string, i int) (int64, error) {
	st, err := os.Stat(m.DiskPath(name, i))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("storage: disk %d of %s: %w", i, name, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("storage: %w", err)
	}
	return st.Size() >> 20, nil
}

// GrowDisk enlarges disk i to sizeMiB (never shrinks: a smaller size is
// ErrInvalid, an equal one does nothing). When the disk holds an ext4
// filesystem directly (as Install makes it), the filesystem is grown too
// (offline: the domain must be stopped, or the guest grows it itself).
func (m *Manager) GrowDisk(ctx context.Context, name string, i int, sizeMiB int64, resizeFS bool) error {
	cur, err := m.DiskSizeMiB(name, i)
	if err != nil {
		return err
	}
	switch {
	case sizeMiB < cur:
		return fmt.Errorf("storage: disk %d of %s is %d MiB, cannot shrink to %d MiB: %w", i, name, cur, sizeMiB, ErrInvalid)
	case sizeMiB == cur:
		return nil
	}
	if _, free, err := m.Usage(); err == nil && free < sizeMiB-cur {
		return fmt.Errorf("storage: grow disk %d of %s by %d MiB, %d MiB free: %w", i, name, sizeMiB-cur, free, ErrNoSpace)
	}
	p := m.DiskPath(name, i)
	if err := os.Truncate(p, sizeMiB<<20); err != nil {
		return fmt.Errorf("storage: grow %s: %w", p, err)
	}
	if !resizeFS || !isExt(p) {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "e2fsck", "-f", "-p", p).CombinedOutput(); err != nil {
		// Exit 1 means "errors corrected": fine for resize2fs.
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() > 1 {
			return fmt.Errorf("storage: e2fsck %s: %v: %s", p, err, strings.TrimSpace(string(out)))
		}
	}
	if out, err := exec.CommandContext(ctx, "resize2fs", p).CombinedOutput(); err != nil {
		return fmt.Errorf("storage: resize2fs %s: %v: %s", p, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// isExt reports whether the file starts with an ext2/3/4 superblock.
func isExt(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 1024+0x38); err != nil {
		return false
	}
	return b[0] == 0x53 && b[1] == 0xef
}

// Remove deletes every file of the instance. A missing instance is not an error.
func (m *Manager) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.RemoveAll(m.InstanceDir(name)); err != nil {
		return fmt.Errorf("storage: remove %s: %w", name, err)
	}
	return nil
}

// RemoveDisk deletes disk i only.
func (m *Manager) RemoveDisk(name string, i int) error {
	if err := os.Remove(m.DiskPath(name, i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// Rename moves an instance's files to a new name.
func (m *Manager) Rename(from, to string) error {
	if err := checkName(from); err != nil {
		return err
	}
	if err := checkName(to); err != nil {
		return err
	}
	if m.Exists(to) {
		return fmt.Errorf("storage: rename %s to %s: %w", from, to, ErrExists)
	}
	if !m.Exists(from) {
		return fmt.Errorf("storage: rename %s: %w", from, ErrNotFound)
	}
	if err := os.Rename(m.InstanceDir(from), m.InstanceDir(to)); err != nil {
		return fmt.Errorf("storage: rename %s to %s: %w", from, to, err)
	}
	return nil
}

// Usage reports the size and free space of the storage filesystem, in MiB.
func (m *Manager) Usage() (totalMiB, freeMiB int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.dir, &st); err != nil {
		return 0, 0, fmt.Errorf("storage: statfs %s: %w", m.dir, err)
	}
	bs := int64(st.Bsize)
	return int64(st.Blocks) * bs >> 20, int64(st.Bavail) * bs >> 20, nil
}

// AllocatedMiB sums the apparent sizes of every file disk (what the node has
// promised to instances, whatever is actually written to the sparse files).
func (m *Manager) AllocatedMiB() int64 {
	files, _ := filepath.Glob(filepath.Join(m.dir, "instances", "*", "disk*.img"))
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size() >> 20
		}
	}
	return n
}

// UnclaimedMiB is how much the sparse file disks may still grow into: their
// apparent sizes minus the blocks they already use.
func (m *Manager) UnclaimedMiB() int64 {
	files, _ := filepath.Glob(filepath.Join(m.dir, "instances", "*", "disk*.img"))
	var n int64
	for _, f := range files {
		var st syscall.Stat_t
		if err := syscall.Stat(f, &st); err == nil {
			if d := st.Size - st.Blocks*512; d > 0 {
				n += d
			}
		}
	}
	return n >> 20
}
