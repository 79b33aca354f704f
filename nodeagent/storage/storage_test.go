package storage

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/drover-project/drover/realtest"
)

func TestDisks(t *testing.T) {
	m, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Prepare("web1"); err != nil {
		t.Fatal(err)
	}
	p, err := m.CreateDisk("web1", 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil || st.Size != 64<<20 || st.Blocks != 0 {
		t.Fatalf("disk not a sparse 64 MiB file: size %d blocks %d %v", st.Size, st.Blocks, err)
	}
	if _, err := m.CreateDisk("web1", 0, 64); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := m.CreateDisk("web1", 1, 1<<40); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("huge disk: %v", err)
	}
	if _, err := m.CreateDisk("../x", 0, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	if got := m.UnclaimedMiB(); got != 64 {
		t.Fatalf("unclaimed %d MiB, want 64", got)
	}
	total, free, err := m.Usage()
	if err != nil || total <= 0 || free <= 0 || free > total {
		t.Fatalf("usage %d/%d %v", free, total, err)
	}
	ctx := context.Background()
	if err := m.GrowDisk(ctx, "web1", 0, 32, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("shrink: %v", err)
	}
	if err := m.GrowDisk(ctx, "web1", 0, 96, true); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.DiskSizeMiB("web1", 0); n != 96 {
		t.Fatalf("after grow: %d MiB", n)
	}
	if err := m.Rename("web1", "web2"); err != nil {
		t.Fatal(err)
	}
	if m.Exists("web1") || !m.Exists("web2") {
		t.Fatal("rename did not move the files")
	}
	if err := m.Remove("web2"); err != nil || m.Exists("web2") {
		t.Fatalf("remove: %v", err)
	}
	if err := m.Remove("web2"); err != nil {
		t.Fatalf("remove twice: %v", err)
	}
}

// TestGrowExt4: growing a disk that holds an ext4 filesystem grows the
// filesystem too (offline, with resize2fs).
func TestGrowExt4(t *testing.T) {
	realtest.NeedBinaries(t, "mkfs.ext4", "resize2fs", "e2fsck", "dumpe2fs")
	m, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = m.Prepare("db1")
	p, err := m.CreateDisk("db1", 0, 32)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", p).CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v %s", err, out)
	}
	if !isExt(p) {
		t.Fatal("isExt false on ext4")
	}
	if err := m.GrowDisk(context.Background(), "db1", 0, 64, true); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dumpe2fs", "-h", p).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v %s", err, out)
	}
	// 64 MiB in 1 KiB or 4 KiB blocks.
	if !containsAny(string(out), "Block count:              65536", "Block count:              16384") {
		t.Fatalf("filesystem not grown:\n%s", out)
	}
	_ = os.Remove(p)
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
