package nodeagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/templates"
)

func TestBlobURL(t *testing.T) {
	h := strings.Repeat("a", 64)
	for in, want := range map[string]string{
		"https://m1:5080":                          "https://m1:5080/api/v1/templates/blobs/sha256:" + h,
		"https://m1:5080/":                         "https://m1:5080/api/v1/templates/blobs/sha256:" + h,
		"https://m1:5080/api/v1":                   "https://m1:5080/api/v1/templates/blobs/sha256:" + h,
		"https://m1:5080/api/v1/templates/blobs":   "https://m1:5080/api/v1/templates/blobs/sha256:" + h,
		"https://m1:5080/api/v1/templates/blobs/x": "https://m1:5080/api/v1/templates/blobs/x",
	} {
		if got := blobURL(in, h); got != want {
			t.Errorf("blobURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFetcher: the bearer token is sent, the blob is cached by digest (one
// download for two fetches), a wrong content is refused with wrong_input and
// not cached, and an unreachable master is unavailable.
func TestFetcher(t *testing.T) {
	body := []byte("a template tarball, or so")
	sum := sha256.Sum256(body)
	good := hex.EncodeToString(sum[:])
	bad := strings.Repeat("b", 64)
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		hits++
		_, _ = w.Write(body) // whatever digest was asked for
	}))
	defer srv.Close()
	cache, err := templates.NewCache(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := newTemplateFetcher(cache, api.NodeCredentials{APIURLs: []string{srv.URL}}, "tok")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		p, err := f.Fetch(ctx, "sha256:"+good, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != string(body) {
			t.Fatalf("cached blob %q", b)
		}
	}
	if hits != 1 {
		t.Fatalf("%d downloads, want 1", hits)
	}
	_, err = f.Fetch(ctx, bad, nil, nil)
	if api.CodeOf(err) != api.CodeWrongInput {
		t.Fatalf("checksum mismatch: %v", err)
	}
	if _, ok := cache.Path(bad); ok {
		t.Fatal("a blob with the wrong content was cached")
	}
	f2, _ := newTemplateFetcher(cache, api.NodeCredentials{}, "tok")
	if _, err := f2.Fetch(ctx, bad, []string{"http://127.0.0.1:1"}, nil); api.CodeOf(err) != api.CodeUnavailable {
		t.Fatalf("unreachable master: %v", err)
	}
	if _, err := f2.Fetch(ctx, "nonsense", nil, nil); api.CodeOf(err) != api.CodeWrongInput {
		t.Fatalf("bad digest: %v", err)
	}
}
