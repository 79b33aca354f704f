package templates

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestCacheFetch(t *testing.T) {
	dir := t.TempDir()
	c, err := NewCache(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, time.Minute)
	data := []byte("template bytes")
	var calls atomic.Int32
	fetch := func(w io.Writer) error {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond) // let the concurrent callers pile up
		_, err := w.Write(data)
		return err
	}
	var wg sync.WaitGroup
	paths := make([]string, 4)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.Fetch(ctx, "sha256:"+sha(data), fetch)
			if err != nil {
				t.Error(err)
			}
			paths[i] = p
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("4 concurrent fetches made %d downloads, want 1", calls.Load())
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err != nil || string(b) != string(data) {
			t.Errorf("cached blob %q = %q, %v", p, b, err)
		}
	}
	// Cached: no new download.
	if _, err := c.Fetch(ctx, sha(data), fetch); err != nil || calls.Load() != 1 {
		t.Errorf("refetch: %v, %d downloads", err, calls.Load())
	}

	// Wrong content: ErrChecksum, nothing visible, temp file gone.
	other := sha([]byte("something else"))
	_, err = c.Fetch(ctx, other, func(w io.Writer) error { _, err := w.Write(data); return err })
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("mismatch = %v, want ErrChecksum", err)
	}
	if _, ok := c.Path(other); ok {
		t.Error("a blob with the wrong content became visible")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Errorf("%d temp files left", len(ents))
	}
	// A failing download leaves nothing either.
	if _, err := c.Fetch(ctx, other, func(w io.Writer) error { return errors.New("network down") }); err == nil {
		t.Error("failed download returned no error")
	}
	if n, err := c.Prune(nil); err != nil || n != 1 {
		t.Errorf("Prune = %d, %v", n, err)
	}
}

func TestHTTPFetchToCache(t *testing.T) {
	requireRoot(t, "zstd")
	dir := t.TempDir()
	s, _ := OpenStore(filepath.Join(dir, "store"), testLogger(t))
	ctx := testCtx(t, time.Minute)
	m, err := s.Add(ctx, makeArtifact(t, dir, "base", CompressionZstd))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/tpl/", http.StripPrefix("/tpl", Handler(s, testLogger(t))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cl := &Client{BaseURL: srv.URL + "/tpl", HTTP: srv.Client(), Header: http.Header{"Authorization": {"Bearer x"}}}
	cache, _ := NewCache(filepath.Join(dir, "cache"), testLogger(t))

	got, p, err := cl.FetchToCache(ctx, cache, "base")
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != m.SHA256 || got.Version != 1 {
		t.Errorf("manifest over HTTP = %+v", got)
	}
	if sum, _, err := hashFile(ctx, p); err != nil || sum != m.SHA256 {
		t.Errorf("cached blob sha %s, %v", sum, err)
	}
	if _, err := cl.Manifest(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing template = %v", err)
	}
	resp, err := srv.Client().Get(srv.URL + "/tpl/blobs/xyz")
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad digest: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	ms := func() int {
		resp, err := srv.Client().Get(srv.URL + "/tpl/templates")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode
	}()
	if ms != http.StatusOK {
		t.Errorf("list status %d", ms)
	}

	// A server that sends other bytes than the digest says: refused, not cached.
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("evil bytes"))
	}))
	defer liar.Close()
	lc := &Client{BaseURL: liar.URL}
	cache2, _ := NewCache(filepath.Join(dir, "cache2"), testLogger(t))
	if _, err := cache2.Fetch(ctx, m.Digest(), lc.BlobFetcher(ctx, m.Digest())); !errors.Is(err, ErrChecksum) {
		t.Errorf("lying server = %v, want ErrChecksum", err)
	}
	if _, ok := cache2.Path(m.Digest()); ok {
		t.Error("lying server's bytes were cached")
	}
}
