package templates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Handler serves a Store read-only over HTTP, for agents:
//
//	GET /templates            []Manifest (every version)
//	GET /templates/{ref}      Manifest of "name" (latest) or "name@version"
//	GET /blobs/{digest}       the tarball ("sha256:<hex>" or "<hex>"), with
//	                          ETag = digest, Range support, and the header
//	                          X-Drover-Sha256 for the client to check against.
//
// Mount it under a prefix with http.StripPrefix. Authentication is the
// caller's job (wrap the handler).
func Handler(s *Store, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /templates", func(w http.ResponseWriter, r *http.Request) {
		ms, err := s.List()
		if err != nil {
			httpError(w, log, err)
			return
		}
		writeJSON(w, ms)
	})
	mux.HandleFunc("GET /templates/{ref}", func(w http.ResponseWriter, r *http.Request) {
		m, err := s.Get(r.PathValue("ref"))
		if err != nil {
			httpError(w, log, err)
			return
		}
		writeJSON(w, m)
	})
	mux.HandleFunc("GET /blobs/{digest}", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.BlobPath(r.PathValue("digest"))
		if err != nil {
			httpError(w, log, err)
			return
		}
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("blob %s: %w", r.PathValue("digest"), ErrNotFound)
			}
			httpError(w, log, err)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			httpError(w, log, err)
			return
		}
		h, _ := ParseDigest(r.PathValue("digest"))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", `"sha256:`+h+`"`)
		w.Header().Set("X-Drover-Sha256", h)
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		http.ServeContent(w, r, "", st.ModTime(), f)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, log *slog.Logger, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	default:
		log.Error("template_http_error", "err", err)
	}
	http.Error(w, err.Error(), code)
}

// Client reads templates from a Handler.
type Client struct {
	// BaseURL is where the Handler is mounted, e.g. "https://master:5080/templates-api".
	BaseURL string
	// HTTP client; nil means http.DefaultClient. Give it TLS config and a
	// timeout for the manifest calls; blob downloads are bounded by ctx.
	HTTP *http.Client
	// Header is added to every request (e.g. Authorization: Bearer ...).
	Header http.Header
}

func (c *Client) do(ctx context.Context, p string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.BaseURL, "/")+p, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		err := fmt.Errorf("GET %s: %s: %s", p, resp.Status, strings.TrimSpace(string(b)))
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", err, ErrNotFound)
		}
		return nil, err
	}
	return resp, nil
}

// Manifest fetches the manifest of ref ("name" or "name@version").
func (c *Client) Manifest(ctx context.Context, ref string) (Manifest, error) {
	resp, err := c.do(ctx, "/templates/"+url.PathEscape(ref))
	if err != nil {
		return Manifest{}, fmt.Errorf("template manifest %s: %w", ref, err)
	}
	defer resp.Body.Close()
	var m Manifest
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("template manifest %s: %w", ref, err)
	}
	return m, nil
}

// BlobFetcher returns a fetch function for Cache.Fetch that downloads the blob
// with this digest. It refuses a server that announces another sha256; the
// Cache checks the content itself.
func (c *Client) BlobFetcher(ctx context.Context, digest string) func(w io.Writer) error {
	return func(w io.Writer) error {
		h, err := ParseDigest(digest)
		if err != nil {
			return err
		}
		resp, err := c.do(ctx, "/blobs/sha256:"+h)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if got := resp.Header.Get("X-Drover-Sha256"); got != "" && got != h {
			return fmt.Errorf("server sent sha256 %s for %s: %w", got, h, ErrChecksum)
		}
		if _, err := io.Copy(w, resp.Body); err != nil {
			return fmt.Errorf("download sha256:%s: %w", h, err)
		}
		return nil
	}
}

// FetchToCache downloads the template ref's blob into cache (if not there
// yet) and returns its manifest and the local path, with a default deadline
// of 30 minutes when ctx has none.
func (c *Client) FetchToCache(ctx context.Context, cache *Cache, ref string) (Manifest, string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Minute)
		defer cancel()
	}
	m, err := c.Manifest(ctx, ref)
	if err != nil {
		return Manifest{}, "", err
	}
	p, err := cache.Fetch(ctx, m.Digest(), c.BlobFetcher(ctx, m.Digest()))
	if err != nil {
		return Manifest{}, "", fmt.Errorf("template %s: %w", ref, err)
	}
	return m, p, nil
}

// GetBlob starts the download of a blob (or any template URL) from a master:
// the response of a 200 (the caller closes its body), or an error carrying the
// status and the start of the answer. token, when set, is sent as a bearer
// token. The master's template sync and the agent's fetch both use it.
func GetBlob(ctx context.Context, c *http.Client, url, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}
