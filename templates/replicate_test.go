package templates

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStoreReplicate: a version made on one store is copied to another under
// its own name, version and sha256; the content is checked before anything
// is kept; a repeat is a no-op; the next local version comes after it.
func TestStoreReplicate(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t, time.Minute)
	src, err := OpenStore(filepath.Join(dir, "a"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := OpenStore(filepath.Join(dir, "b"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	body := tarball(t, true, reg("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), reg("bin/sh", "#!"))
	// Versions 1 and 2 on src; only 2 goes to dst.
	if _, err := src.Import(ctx, "base", bytes.NewReader(body), nil); err != nil {
		t.Fatal(err)
	}
	body2 := tarball(t, true, reg("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), reg("bin/sh", "#!"), reg("etc/extra", "2"))
	m, err := src.Import(ctx, "base", bytes.NewReader(body2), nil)
	if err != nil || m.Version != 2 {
		t.Fatalf("import: %+v %v", m, err)
	}

	// Wrong content: refused, nothing kept.
	if err := dst.Replicate(ctx, m, bytes.NewReader(body)); !errors.Is(err, ErrChecksum) {
		t.Fatalf("replicate with the wrong content: %v", err)
	}
	if dst.Has(m.Digest()) {
		t.Fatal("a blob with the wrong content was kept")
	}
	if _, err := dst.Get("base@2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("manifest kept after a failed replicate: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dst.Dir(), "tmp")); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}

	rc, _, err := src.Open(m.Digest())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := dst.Replicate(ctx, m, rc); err != nil {
		t.Fatal(err)
	}
	got, err := dst.Get("base@2")
	if err != nil || got.SHA256 != m.SHA256 || got.Version != 2 || !dst.Has(m.Digest()) {
		t.Fatalf("replicated: %+v %v", got, err)
	}
	// Again: nothing read, nothing changed.
	if err := dst.Replicate(ctx, m, strings.NewReader("not read")); err != nil {
		t.Fatalf("repeat: %v", err)
	}
	// Another blob under base@2: refused.
	other := m
	other.SHA256 = strings.Repeat("0", 64)
	if err := dst.Replicate(ctx, other, strings.NewReader("")); !errors.Is(err, ErrExists) {
		t.Fatalf("other blob under base@2: %v", err)
	}
	// A local import of base now gets version 3.
	m3, err := dst.Import(ctx, "base", bytes.NewReader(body), nil)
	if err != nil || m3.Version != 3 {
		t.Fatalf("local import after replicate: %+v %v", m3, err)
	}
}
