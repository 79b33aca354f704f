package templates

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStoreAddGetListRemove(t *testing.T) {
	requireRoot(t, "zstd")
	dir := t.TempDir()
	s, err := OpenStore(filepath.Join(dir, "store"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, time.Minute)
	a := makeArtifact(t, dir, "base", CompressionZstd)
	if a.Manifest.Kernel != "boot/vmlinuz-6.1.0-10-amd64" || a.Manifest.Initrd != "boot/initrd.img-6.1.0-10-amd64" || a.Manifest.Network != "networkd" {
		t.Errorf("facts: kernel %q initrd %q network %q", a.Manifest.Kernel, a.Manifest.Initrd, a.Manifest.Network)
	}
	m1, err := s.Add(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Version != 1 || a.Path == "" || !isRegular(a.Path) {
		t.Fatalf("first add: version %d path %q", m1.Version, a.Path)
	}
	// Another tarball under the same name: version 2.
	b := makeArtifact(t, filepath.Join(dir, "b"), "base", CompressionGzip)
	m2, err := s.Add(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Version != 2 {
		t.Fatalf("second add: version %d", m2.Version)
	}
	got, err := s.Get("base")
	if err != nil || got.Version != 2 || got.SHA256 != m2.SHA256 {
		t.Fatalf("Get(base) = %+v, %v", got, err)
	}
	if got, err := s.Get("base@1"); err != nil || got.SHA256 != m1.SHA256 {
		t.Fatalf("Get(base@1) = %+v, %v", got, err)
	}
	if _, err := s.Get("base@7"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(base@7) = %v, want ErrNotFound", err)
	}
	if _, err := s.Get("other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(other) = %v, want ErrNotFound", err)
	}
	// Versions are never reused: remove @2, add again, get @3.
	if err := s.Remove("base@2"); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.BlobPath(m2.Digest()); isRegular(p) {
		t.Error("blob of removed base@2 still there")
	}
	c := makeArtifact(t, filepath.Join(dir, "c"), "base", CompressionGzip)
	if m3, err := s.Add(ctx, c); err != nil || m3.Version != 3 {
		t.Fatalf("third add: %+v, %v", m3, err)
	}
	ms, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, m := range ms {
		refs = append(refs, m.Ref())
	}
	if !slices.Equal(refs, []string{"base@1", "base@3"}) {
		t.Errorf("List = %v", refs)
	}
	if err := s.Remove("base"); err != nil {
		t.Fatal(err)
	}
	if ms, _ := s.List(); len(ms) != 0 {
		t.Errorf("after Remove(base): %d manifests", len(ms))
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "blobs", "sha256")); len(ents) != 0 {
		t.Errorf("after Remove(base): %d blobs left", len(ents))
	}
	if err := s.Remove("base"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove of nothing = %v", err)
	}
}

func TestStoreAddChecksumMismatch(t *testing.T) {
	requireRoot(t, "zstd")
	dir := t.TempDir()
	s, err := OpenStore(filepath.Join(dir, "store"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	a := makeArtifact(t, dir, "base", CompressionZstd)
	a.Manifest.SHA256 = strings.Repeat("0", 64)
	if _, err := s.Add(testCtx(t, time.Minute), a); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Add with a wrong sha256 = %v, want ErrChecksum", err)
	}
	if ms, _ := s.List(); len(ms) != 0 {
		t.Error("a manifest was stored")
	}
}

func TestStoreOpenVerifies(t *testing.T) {
	requireRoot(t, "zstd")
	dir := t.TempDir()
	s, _ := OpenStore(filepath.Join(dir, "store"), testLogger(t))
	a := makeArtifact(t, dir, "base", CompressionZstd)
	m, err := s.Add(testCtx(t, time.Minute), a)
	if err != nil {
		t.Fatal(err)
	}
	rc, size, err := s.Open(m.Digest())
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, rc); int64(len(b)) != size || size != m.Size {
		t.Errorf("read %d bytes, size %d, manifest %d", len(b), size, m.Size)
	}
	rc.Close()
	// Flip one byte on disk: reading must fail with ErrChecksum.
	p, _ := s.BlobPath(m.Digest())
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff}, m.Size/2)
	f.Close()
	rc, _, err = s.Open(m.Digest())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrChecksum) {
		t.Errorf("reading a corrupted blob = %v, want ErrChecksum", err)
	}
	if _, _, err := s.Open("sha256:" + m.SHA256[:10]); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open(short digest) = %v", err)
	}
}

// tarball builds an in-memory tar (optionally gzipped) of the given entries.
func tarball(t *testing.T, gz bool, entries ...*tar.Header) []byte {
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, h := range entries {
		body := []byte(h.Linkname)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
			h.Linkname = ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

// reg makes a regular file header whose content is body (passed in Linkname).
func reg(name, body string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Linkname: body}
}

func TestStoreImport(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, time.Minute)
	good := []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		reg("./etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
		{Name: "./bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"},
		reg("./usr/bin/sh", "#!"),
		reg("./usr/bin/cloud-init", "#!"),
		reg("./usr/lib/os-release", "VERSION_CODENAME=bookworm\n"),
		reg("./var/lib/dpkg/status", testDpkgStatus),
		reg("./boot/vmlinuz-6.1.0-10-amd64", "k"),
	}
	var progressed bool
	m, err := s.Import(ctx, "imported", bytes.NewReader(tarball(t, true, good...)), func(Progress) { progressed = true })
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 1 || m.Tool != ToolImport || m.Compression != CompressionGzip || m.Suite != "bookworm" ||
		!m.CloudInit || m.Kernel != "boot/vmlinuz-6.1.0-10-amd64" || len(m.Packages) != 2 || m.Arch != "amd64" || !progressed {
		t.Errorf("import manifest = %+v", m)
	}
	rc, _, err := s.Open(m.Digest())
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, rc)
	rc.Close()
	if m2, err := s.Import(ctx, "imported", bytes.NewReader(tarball(t, false, good...)), nil); err != nil || m2.Compression != CompressionNone || m2.Version != 2 {
		t.Errorf("plain tar import = %+v, %v", m2, err)
	}

	for name, data := range map[string][]byte{
		"not a tar":   []byte("hello, this is not a tarball at all, just some bytes......"),
		"no rootfs":   tarball(t, true, reg("README", "hi")),
		"unsafe path": tarball(t, false, append(good[:3:3], reg("../evil", "x"))...),
		"absolute":    tarball(t, false, append(good[:3:3], reg("/etc/evil", "x"))...),
		"truncated":   tarball(t, true, good...)[:40],
	} {
		if _, err := s.Import(ctx, "bad", bytes.NewReader(data), nil); !errors.Is(err, ErrNotRootfs) {
			t.Errorf("import %s = %v, want ErrNotRootfs", name, err)
		}
	}
	if _, err := s.Get("bad"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused import left a manifest: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Errorf("refused imports left %d temp files", len(ents))
	}
	if _, err := s.Import(ctx, "Bad Name", bytes.NewReader(nil), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name = %v", err)
	}
}
