package templates

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// BootFiles are the kernel and initrd copied out of a disk that an OS
// definition filled, for direct kernel boot.
type BootFiles struct {
	Kernel, Initrd string // paths in the output directory ("" if none)
	// Partition is the number of the root partition (1 for vda1), 0 when
	// the filesystem covers the whole disk (PARTITION_STYLE=none).
	Partition int
}

// RootDevice is the root= device of the layout on disk dev (vda, xvda).
func (b BootFiles) RootDevice(dev string) string {
	if b.Partition > 0 {
		return "/dev/" + dev + strconv.Itoa(b.Partition)
	}
	return "/dev/" + dev
}

// ext4 superblock: 1024 bytes in, magic 0xEF53 at offset 56 of it.
const (
	extSuperOffset = 1024
	extMagicOffset = 56
	extMagic       = 0xEF53
)

// rootFilesystem finds the ext2/3/4 root filesystem on disk: at offset 0,
// or in the first MBR partition of type Linux (0x83) that holds one. It
// returns its byte offset and partition number (0: whole disk).
func rootFilesystem(disk string) (int64, int, error) {
	f, err := os.Open(disk)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	isExt := func(off int64) bool {
		var b [2]byte
		_, err := f.ReadAt(b[:], off+extSuperOffset+extMagicOffset)
		return err == nil && binary.LittleEndian.Uint16(b[:]) == extMagic
	}
	if isExt(0) {
		return 0, 0, nil
	}
	var mbr [512]byte
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, 512), mbr[:]); err != nil {
		return 0, 0, fmt.Errorf("read partition table of %s: %w", disk, err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA {
		return 0, 0, fmt.Errorf("%s holds neither an ext filesystem nor an MBR partition table: %w", disk, ErrInvalid)
	}
	for i := range 4 {
		e := mbr[446+16*i : 446+16*(i+1)]
		if e[4] != 0x83 {
			continue
		}
		off := int64(binary.LittleEndian.Uint32(e[8:12])) * 512
		if isExt(off) {
			return off, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%s: no Linux partition with an ext filesystem: %w", disk, ErrInvalid)
}

// BootFromDisk copies the newest /boot/vmlinuz-* and its initrd out of the
// root filesystem on disk into outDir (as vmlinuz and initrd.img), with
// debugfs: nothing is mounted. A disk without a kernel gives empty paths
// and no error.
func BootFromDisk(ctx context.Context, disk, outDir string) (BootFiles, error) {
	off, part, err := rootFilesystem(disk)
	if err != nil {
		return BootFiles{}, err
	}
	res := BootFiles{Partition: part}
	dev := disk
	if off > 0 {
		dev = disk + "?offset=" + strconv.FormatInt(off, 10)
	}
	ls, err := debugfs(ctx, dev, "ls -p /boot")
	if err != nil {
		return res, err
	}
	var facts rootfsFacts
	for _, l := range strings.Split(ls, "\n") {
		// /INODE/MODE/UID/GID/NAME/SIZE/
		f := strings.Split(strings.Trim(l, "/"), "/")
		if len(f) >= 5 && strings.HasPrefix(f[1], "10") { // regular files
			facts.add("boot/" + f[4])
		}
	}
	var m Manifest
	facts.apply(&m)
	if m.Kernel == "" {
		return res, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return res, err
	}
	for _, c := range []struct{ src, dst string }{{m.Kernel, "vmlinuz"}, {m.Initrd, "initrd.img"}} {
		if c.src == "" {
			continue
		}
		out := filepath.Join(outDir, c.dst)
		os.Remove(out)
		if _, err := debugfs(ctx, dev, fmt.Sprintf("dump /%s %s", c.src, out)); err != nil {
			return res, err
		}
		if st, err := os.Stat(out); err != nil || st.Size() == 0 {
			return res, fmt.Errorf("copy /%s out of %s: nothing written", c.src, disk)
		}
		if c.dst == "vmlinuz" {
			res.Kernel = out
		} else {
			res.Initrd = out
		}
	}
	return res, nil
}

// debugfs runs one read-only debugfs request against dev.
func debugfs(ctx context.Context, dev, request string) (string, error) {
	if _, err := exec.LookPath("debugfs"); err != nil {
		return "", fmt.Errorf("debugfs (e2fsprogs): %w", ErrToolMissing)
	}
	cmd := exec.CommandContext(ctx, "debugfs", "-R", request, dev)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("debugfs %q %s: %w: %s", request, dev, err, lastLines(stderr.String(), 5))
	}
	return string(out), nil
}
