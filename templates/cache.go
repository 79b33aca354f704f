package templates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Cache keeps template blobs on an agent, by digest:
//
//	DIR/sha256/<hex>   verified blobs
//	DIR/tmp/           downloads in progress
//
// A blob becomes visible only after its sha256 was checked (written to a temp
// file, then renamed). Concurrent Fetches of one digest share one download.
type Cache struct {
	dir      string
	log      *slog.Logger
	mu       sync.Mutex
	inflight map[string]*fetchCall
}

type fetchCall struct {
	done chan struct{}
	path string
	err  error
}

// NewCache opens (creating if needed) a cache in dir.
func NewCache(dir string, log *slog.Logger) (*Cache, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"sha256", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("open cache: %w", err)
		}
	}
	// Leftovers of interrupted downloads are garbage.
	if ents, err := os.ReadDir(filepath.Join(dir, "tmp")); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(dir, "tmp", e.Name()))
		}
	}
	return &Cache{dir: dir, log: log, inflight: map[string]*fetchCall{}}, nil
}

// Path returns the path of a cached blob and whether it is there.
func (c *Cache) Path(digest string) (string, bool) {
	h, err := ParseDigest(digest)
	if err != nil {
		return "", false
	}
	p := filepath.Join(c.dir, "sha256", h)
	_, err = os.Stat(p)
	return p, err == nil
}

// Fetch returns the path of the blob with this digest, calling fetch to write
// its content when it is not cached yet. The content is checked against the
// digest before it becomes visible; a mismatch returns ErrChecksum and leaves
// nothing in the cache. fetch should honour ctx itself (it is a closure).
func (c *Cache) Fetch(ctx context.Context, digest string, fetch func(w io.Writer) error) (string, error) {
	h, err := ParseDigest(digest)
	if err != nil {
		return "", err
	}
	if p, ok := c.Path(h); ok {
		return p, nil
	}
	c.mu.Lock()
	if call, ok := c.inflight[h]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.path, call.err
		case <-ctx.Done():
			return "", fmt.Errorf("fetch %s: %w", digest, ctx.Err())
		}
	}
	call := &fetchCall{done: make(chan struct{})}
	c.inflight[h] = call
	c.mu.Unlock()

	call.path, call.err = c.download(ctx, h, fetch)
	c.mu.Lock()
	delete(c.inflight, h)
	c.mu.Unlock()
	close(call.done)
	return call.path, call.err
}

func (c *Cache) download(ctx context.Context, h string, fetch func(w io.Writer) error) (string, error) {
	final := filepath.Join(c.dir, "sha256", h)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	tmp, err := os.CreateTemp(filepath.Join(c.dir, "tmp"), h[:12]+"-")
	if err != nil {
		return "", fmt.Errorf("fetch sha256:%s: %w", h, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()
	sum := sha256.New()
	if err := fetch(io.MultiWriter(tmp, sum)); err != nil {
		return "", fmt.Errorf("fetch sha256:%s: %w", h, err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("fetch sha256:%s: %w", h, err)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != h {
		return "", fmt.Errorf("fetch sha256:%s: got sha256 %s: %w", h, got, ErrChecksum)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("fetch sha256:%s: %w", h, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return "", fmt.Errorf("fetch sha256:%s: %w", h, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("fetch sha256:%s: %w", h, err)
	}
	c.log.Info("template_blob_cached", "digest", "sha256:"+h)
	return final, nil
}

// Remove deletes a cached blob; a missing one is not an error.
func (c *Cache) Remove(digest string) error {
	p, _ := c.Path(digest)
	if p == "" {
		return fmt.Errorf("cache remove %q: %w", digest, ErrInvalid)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cache remove %s: %w", digest, err)
	}
	return nil
}

// Prune deletes every cached blob whose digest is not in keep (hex or
// "sha256:hex" keys) and returns how many it deleted.
func (c *Cache) Prune(keep []string) (int, error) {
	k := map[string]bool{}
	for _, d := range keep {
		if h, err := ParseDigest(d); err == nil {
			k[h] = true
		}
	}
	ents, err := os.ReadDir(filepath.Join(c.dir, "sha256"))
	if err != nil {
		return 0, fmt.Errorf("cache prune: %w", err)
	}
	n := 0
	for _, e := range ents {
		if !k[e.Name()] {
			if err := os.Remove(filepath.Join(c.dir, "sha256", e.Name())); err != nil {
				return n, fmt.Errorf("cache prune: %w", err)
			}
			n++
		}
	}
	return n, nil
}
