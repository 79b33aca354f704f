package templates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Store is a content-addressed local template store:
//
//	DIR/blobs/sha256/<hex>                 tarballs, named by their sha256
//	DIR/manifests/<name>/<version>.json    one manifest per version
//	DIR/manifests/<name>/seq               last version given to <name>
//	DIR/tmp/                               imports in progress
//	DIR/.lock                              flock held while metadata changes
//
// Versions are monotonic per name and never reused, even after Remove. Two
// manifests may share a blob; a blob is deleted with its last manifest.
type Store struct {
	dir string
	log *slog.Logger
	mu  sync.Mutex
}

// OpenStore opens (creating if needed) a store in dir.
func OpenStore(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"blobs/sha256", "manifests", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	return &Store{dir: dir, log: log}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// BlobPath is where the blob with this digest lives (it may not exist).
func (s *Store) BlobPath(digest string) (string, error) {
	h, err := ParseDigest(digest)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.dir, "blobs", "sha256", h), nil
}

// lock takes the in-process mutex and an exclusive flock on DIR/.lock, so that
// two processes sharing a store do not give out one version twice.
func (s *Store) lock() (unlock func(), err error) {
	s.mu.Lock()
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("store lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		s.mu.Unlock()
		return nil, fmt.Errorf("store lock: %w", err)
	}
	return func() { f.Close(); s.mu.Unlock() }, nil
}

// Add puts a built artifact into the store under a new version of its name.
// It checks the tarball against the manifest's sha256, then moves it into the
// blob directory (copying when across filesystems). a.Manifest is updated.
func (s *Store) Add(ctx context.Context, a *Artifact) (Manifest, error) {
	m := a.Manifest
	if !ValidName(m.Name) {
		return Manifest{}, fmt.Errorf("store add: name %q: %w", m.Name, ErrInvalid)
	}
	sum, size, err := hashFile(ctx, a.Path)
	if err != nil {
		return Manifest{}, fmt.Errorf("store add %s: %w", m.Name, err)
	}
	if sum != m.SHA256 {
		return Manifest{}, fmt.Errorf("store add %s: %s has sha256 %s, manifest says %s: %w", m.Name, a.Path, sum, m.SHA256, ErrChecksum)
	}
	m.Size = size
	blob, _ := s.BlobPath(sum)
	if err := moveFile(a.Path, blob, filepath.Join(s.dir, "tmp")); err != nil {
		return Manifest{}, fmt.Errorf("store add %s: %w", m.Name, err)
	}
	a.Path = blob
	m, err = s.commit(m)
	if err != nil {
		return Manifest{}, fmt.Errorf("store add %s: %w", m.Name, err)
	}
	a.Manifest = m
	return m, nil
}

// Import reads a tarball made elsewhere (zstd, gzip or plain tar) from r,
// checks that it is a tar of a root filesystem (etc/passwd and a shell, no
// absolute or ".." member names), computes its sha256 and a manifest
// (packages from var/lib/dpkg/status, suite from os-release, kernel,
// cloud-init) and stores it as a new version of name. Progress step: "import".
func (s *Store) Import(ctx context.Context, name string, r io.Reader, progress func(Progress)) (Manifest, error) {
	if !ValidName(name) {
		return Manifest{}, fmt.Errorf("store import: name %q: %w", name, ErrInvalid)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "import-")
	if err != nil {
		return Manifest{}, fmt.Errorf("store import %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // after the rename this is a no-op
	defer tmp.Close()
	h := sha256.New()
	cnt := &countingWriter{step: "import", progress: progress}
	if _, err := io.Copy(io.MultiWriter(tmp, h, cnt), ctxReader{ctx, r}); err != nil {
		return Manifest{}, fmt.Errorf("store import %s: read: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return Manifest{}, fmt.Errorf("store import %s: %w", name, err)
	}
	m, err := scanTarball(ctx, tmp.Name())
	if err != nil {
		return Manifest{}, fmt.Errorf("store import %s: %w", name, err)
	}
	m.Name, m.Tool = name, ToolImport
	m.SHA256, m.Size = hex.EncodeToString(h.Sum(nil)), cnt.n
	m.BuildDate = time.Now().UTC().Truncate(time.Second)
	blob, _ := s.BlobPath(m.SHA256)
	if err := tmp.Chmod(0o644); err != nil {
		return Manifest{}, fmt.Errorf("store import %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), blob); err != nil {
		return Manifest{}, fmt.Errorf("store import %s: %w", name, err)
	}
	if m, err = s.commit(m); err != nil {
		return Manifest{}, fmt.Errorf("store import %s: %w", name, err)
	}
	s.log.Info("template_imported", "template", m.Ref(), "digest", m.Digest(), "size", m.Size)
	return m, nil
}

// scanTarball reads a tarball file and makes a manifest (without name, digest).
func scanTarball(ctx context.Context, file string) (Manifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Manifest{}, err
	}
	st, err := f.Stat()
	if err != nil {
		return Manifest{}, err
	}
	c := detectCompression(head[:n])
	// Canceled on a bomb, so that zstd stops at once instead of being
	// drained to the end.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dr, err := decompressReader(ctx, c, f)
	if err != nil {
		return Manifest{}, err
	}
	sc, err := scanTar(dr, UnpackLimit(st.Size()))
	if errors.Is(err, ErrTooLarge) {
		cancel()
		_ = dr.Close()
		return Manifest{}, err
	}
	if cerr := dr.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%w: %w", ErrNotRootfs, cerr)
	}
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Compression: c, Suite: sc.codename, Packages: sc.packages, Files: sc.files, UnpackedSize: sc.unpacked}
	sc.facts.apply(&m)
	for _, p := range m.Packages {
		if p.Name == "base-files" || p.Name == "libc6" {
			m.Arch = p.Arch
		}
	}
	return m, nil
}

// commit gives m the next version of its name and writes its manifest.
func (s *Store) commit(m Manifest) (Manifest, error) {
	unlock, err := s.lock()
	if err != nil {
		return Manifest{}, err
	}
	defer unlock()
	dir := filepath.Join(s.dir, "manifests", m.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Manifest{}, err
	}
	last := 0
	if b, err := os.ReadFile(filepath.Join(dir, "seq")); err == nil {
		last, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	vs, err := s.versions(m.Name)
	if err != nil {
		return Manifest{}, err
	}
	if len(vs) > 0 {
		last = max(last, vs[len(vs)-1])
	}
	m.Version = last + 1
	if err := writeJSONFile(filepath.Join(dir, "seq"), m.Version); err != nil {
		return Manifest{}, err
	}
	if err := writeJSONFile(filepath.Join(dir, strconv.Itoa(m.Version)+".json"), m); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// versions lists the stored versions of name, ascending.
func (s *Store) versions(name string) ([]int, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "manifests", name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var vs []int
	for _, e := range ents {
		if v, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".json")); err == nil && strings.HasSuffix(e.Name(), ".json") {
			vs = append(vs, v)
		}
	}
	sort.Ints(vs)
	return vs, nil
}

// Get returns the manifest of "name" (latest version) or "name@version".
func (s *Store) Get(ref string) (Manifest, error) {
	name, v, err := ParseRef(ref)
	if err != nil {
		return Manifest{}, err
	}
	if v == 0 {
		vs, err := s.versions(name)
		if err != nil {
			return Manifest{}, fmt.Errorf("template %s: %w", ref, err)
		}
		if len(vs) == 0 {
			return Manifest{}, fmt.Errorf("template %s: %w", ref, ErrNotFound)
		}
		v = vs[len(vs)-1]
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "manifests", name, strconv.Itoa(v)+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, fmt.Errorf("template %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("template %s: %w", ref, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("template %s: manifest: %w", ref, err)
	}
	return m, nil
}

// List returns every stored version, by name then version.
func (s *Store) List() ([]Manifest, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "manifests"))
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	var out []Manifest
	for _, e := range ents {
		vs, err := s.versions(e.Name())
		if err != nil {
			return nil, fmt.Errorf("list templates: %w", err)
		}
		for _, v := range vs {
			m, err := s.Get(fmt.Sprintf("%s@%d", e.Name(), v))
			if err != nil {
				return nil, fmt.Errorf("list templates: %w", err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// Remove deletes "name@version", or every version of "name", and the blobs no
// remaining manifest refers to.
func (s *Store) Remove(ref string) error {
	name, v, err := ParseRef(ref)
	if err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	vs, err := s.versions(name)
	if err != nil {
		return fmt.Errorf("remove template %s: %w", ref, err)
	}
	if v != 0 {
		vs = []int{v}
	}
	if len(vs) == 0 {
		return fmt.Errorf("remove template %s: %w", ref, ErrNotFound)
	}
	var digests []string
	for _, v := range vs {
		m, err := s.Get(fmt.Sprintf("%s@%d", name, v))
		if err != nil {
			return fmt.Errorf("remove template %s: %w", ref, err)
		}
		if err := os.Remove(filepath.Join(s.dir, "manifests", name, strconv.Itoa(v)+".json")); err != nil {
			return fmt.Errorf("remove template %s: %w", ref, err)
		}
		digests = append(digests, m.SHA256)
	}
	s.gcLocked(digests)
	s.log.Info("template_removed", "template", ref)
	return nil
}

// gcLocked deletes the given blobs unless a manifest still names them.
// The store lock must be held.
func (s *Store) gcLocked(candidates []string) {
	all, err := s.List()
	if err != nil {
		s.log.Warn("store_gc_failed", "err", err)
		return
	}
	used := map[string]bool{}
	for _, m := range all {
		used[m.SHA256] = true
	}
	for _, d := range candidates {
		if !used[d] {
			p, _ := s.BlobPath(d)
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("store_gc_failed", "blob", d, "err", err)
			}
		}
	}
}

// Open opens the blob with this digest. The reader checks the content as it
// is read: the Read that reaches the end returns ErrChecksum instead of io.EOF
// if the blob was altered.
func (s *Store) Open(digest string) (io.ReadCloser, int64, error) {
	p, err := s.BlobPath(digest)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("blob %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("blob %s: %w", digest, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("blob %s: %w", digest, err)
	}
	h, _ := ParseDigest(digest)
	return &verifyingReader{r: f, c: f, h: sha256.New(), want: h}, st.Size(), nil
}

// verifyingReader hashes what it reads and checks the sum at EOF.
type verifyingReader struct {
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	want string
}

func (v *verifyingReader) Read(b []byte) (int, error) {
	n, err := v.r.Read(b)
	v.h.Write(b[:n])
	if errors.Is(err, io.EOF) {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("got sha256 %s, want %s: %w", got, v.want, ErrChecksum)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.c.Close() }

// hashFile returns a file's sha256 (hex) and size.
func hashFile(ctx context.Context, p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// moveFile renames src to dst, or copies it (through tmpDir) when they are on
// different filesystems. An existing dst (same content) is kept.
func moveFile(src, dst, tmpDir string) error {
	if _, err := os.Stat(dst); err == nil {
		return os.Remove(src)
	}
	err := os.Rename(src, dst)
	if err == nil || !errors.Is(err, syscall.EXDEV) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(tmpDir, "move-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	return os.Remove(src)
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// Put is Import (the name the issue uses for `template import`).
func (s *Store) Put(ctx context.Context, name string, r io.Reader, progress func(Progress)) (Manifest, error) {
	return s.Import(ctx, name, r, progress)
}

// ImportFile imports the tarball at path (see Import).
func (s *Store) ImportFile(ctx context.Context, name, path string, progress func(Progress)) (Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("store import %s: %w", name, err)
	}
	defer f.Close()
	return s.Import(ctx, name, f, progress)
}

// Has reports whether the store holds the blob with this digest.
func (s *Store) Has(digest string) bool {
	p, err := s.BlobPath(digest)
	if err != nil {
		return false
	}
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Replicate stores a template version made on another master: the blob read
// from r under manifest m exactly as that master has it (same name, version
// and sha256; the version counter of the name moves past it). The content
// is checked against m.SHA256 before anything is kept. Replicating what the
// store already has succeeds without reading r; another blob under the same
// name and version is ErrExists.
func (s *Store) Replicate(ctx context.Context, m Manifest, r io.Reader) error {
	if !ValidName(m.Name) || m.Version <= 0 {
		return fmt.Errorf("store replicate %s@%d: %w", m.Name, m.Version, ErrInvalid)
	}
	if _, err := ParseDigest(m.SHA256); err != nil {
		return fmt.Errorf("store replicate %s: %w", m.Ref(), err)
	}
	if have, err := s.Get(m.Ref()); err == nil {
		if have.SHA256 != m.SHA256 {
			return fmt.Errorf("store replicate %s: holds sha256 %s, not %s: %w", m.Ref(), have.SHA256, m.SHA256, ErrExists)
		}
		if s.Has(m.SHA256) {
			return nil
		}
	}
	if !s.Has(m.SHA256) {
		if err := s.receiveBlob(ctx, m.SHA256, r); err != nil {
			return fmt.Errorf("store replicate %s: %w", m.Ref(), err)
		}
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	dir := filepath.Join(s.dir, "manifests", m.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("store replicate %s: %w", m.Ref(), err)
	}
	last := 0
	if b, err := os.ReadFile(filepath.Join(dir, "seq")); err == nil {
		last, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if m.Version > last {
		if err := writeJSONFile(filepath.Join(dir, "seq"), m.Version); err != nil {
			return fmt.Errorf("store replicate %s: %w", m.Ref(), err)
		}
	}
	if err := writeJSONFile(filepath.Join(dir, strconv.Itoa(m.Version)+".json"), m); err != nil {
		return fmt.Errorf("store replicate %s: %w", m.Ref(), err)
	}
	s.log.Info("template_replicated", "template", m.Ref(), "digest", m.Digest(), "size", m.Size)
	return nil
}

// receiveBlob writes r as the blob with hex digest h, checking its sha256.
func (s *Store) receiveBlob(ctx context.Context, h string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "replicate-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename this is a no-op
	defer tmp.Close()
	sum := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, sum), ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("receive blob: %w", err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h {
		return fmt.Errorf("received blob has sha256 %s, want %s: %w", got, h, ErrChecksum)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	blob, _ := s.BlobPath(h)
	return os.Rename(tmp.Name(), blob)
}
