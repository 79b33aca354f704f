package templates

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"
)

// writeBomb writes a zstd tarball of a root filesystem whose last member is
// size (a multiple of 64 MiB) bytes of zeros. zstd frames concatenate, so
// the zeros are one compressed 64 MiB frame repeated: some 200 KB on disk
// for 5 GiB unpacked, made in a fraction of a second. It returns its path
// and size.
func writeBomb(t testing.TB, dir string, size int64) (string, int64) {
	t.Helper()
	realtest.NeedBinaries(t, "zstd")
	compress := func(b []byte) []byte {
		z := exec.Command("zstd", "-q", "-19", "-c")
		z.Stdin = bytes.NewReader(b)
		out, err := z.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var head bytes.Buffer
	tw := tar.NewWriter(&head)
	for _, f := range []struct{ name, body string }{{"etc/passwd", "root:x:0:0::/root:/bin/sh\n"}, {"bin/sh", "#!"}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "zero", Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	const chunk = 64 << 20
	out := compress(head.Bytes())
	zeros := compress(make([]byte, chunk))
	for n := int64(0); n < size; n += chunk {
		out = append(out, zeros...)
	}
	out = append(out, compress(make([]byte, 1024))...) // the end-of-archive blocks
	p := filepath.Join(dir, "bomb.tar.zst")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, int64(len(out))
}

const bombSize = 5 << 30

// A small zstd tarball that unpacks to 5 GiB is refused on import, with
// ErrTooLarge (wrong_input), after reading at most its bound, and leaves no
// file in the store.
func TestImportRefusesBomb(t *testing.T) {
	dir := t.TempDir()
	bomb, size := writeBomb(t, t.TempDir(), bombSize)
	t.Logf("bomb: %d bytes compressed, %d MiB unpacked", size, bombSize>>20)
	s, err := OpenStore(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.ImportFile(testCtx(t, 2*time.Minute), "bomb", bomb, nil)
	if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("import of a bomb = %v, want ErrTooLarge (and ErrInvalid)", err)
	}
	t.Logf("refused in %.2fs: %v", time.Since(start).Seconds(), err)
	if _, err := s.Get("bomb"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused import left a manifest: %v", err)
	}
	for _, d := range []string{"tmp", "blobs/sha256"} {
		if ents, _ := os.ReadDir(filepath.Join(dir, d)); len(ents) != 0 {
			t.Errorf("refused import left %d files in %s", len(ents), d)
		}
	}
}

// The agent installs with a manifest that knows only the template's name:
// the bound then comes from the blob's size. A bomb is refused while
// unpacking and nothing is left: no disk, no staging tree, no container root.
func TestInstallRefusesBomb(t *testing.T) {
	requireRoot(t, "zstd", "mkfs.ext4")
	bomb, _ := writeBomb(t, t.TempDir(), bombSize)
	ctx := testCtx(t, 2*time.Minute)
	t.Run("disk", func(t *testing.T) {
		dir := t.TempDir()
		stage := filepath.Join(dir, "stage")
		if err := os.Mkdir(stage, 0o755); err != nil {
			t.Fatal(err)
		}
		disk := filepath.Join(dir, "disk0.img")
		_, err := Install(ctx, InstallOptions{Artifact: bomb, Manifest: Manifest{Name: "bomb"}, DiskPath: disk, DiskSizeMiB: 8 << 10,
			Hostname: "web1", StagingDir: stage, Logger: testLogger(t)}, nil)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("install of a bomb = %v, want ErrTooLarge", err)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			t.Errorf("install left %v", ents)
		}
		if ents, _ := os.ReadDir(stage); len(ents) != 0 {
			t.Errorf("install left %d staging entries", len(ents))
		}
	})
	t.Run("container", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "rootfs")
		_, err := InstallDir(ctx, root, InstallOptions{Artifact: bomb, Manifest: Manifest{Name: "bomb"}, Hostname: "web1", Logger: testLogger(t)}, nil)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("install of a bomb = %v, want ErrTooLarge", err)
		}
		if _, err := os.Stat(root); err == nil {
			t.Error("a refused container install left its root")
		}
	})
	t.Run("manifest bound", func(t *testing.T) {
		// A manifest that declares a small tree tightens the bound below
		// the compression-ratio one.
		m := Manifest{UnpackedSize: 1 << 20, Files: 10}
		if got := unpackLimit(m, 1<<20); got >= UnpackLimit(1<<20) || got < 1<<20 {
			t.Errorf("unpackLimit = %d", got)
		}
	})
}

func TestUnpackLimit(t *testing.T) {
	for _, c := range []struct{ in, want int64 }{
		{0, unpackSlack},
		{1 << 20, 40<<20 + unpackSlack},
		{1 << 40, MaxUnpackedSize},
		{-1, unpackSlack},
	} {
		if got := UnpackLimit(c.in); got != c.want {
			t.Errorf("UnpackLimit(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
