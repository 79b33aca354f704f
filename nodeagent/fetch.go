package nodeagent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/templates"
)

// blobURL is where the master serves the blob with hex digest h: base may be
// a blob URL already (".../blobs/..."), an API base (".../api/v1") or a
// master's root URL ("https://127.0.0.1:5080").
func blobURL(base, h string) string {
	base = strings.TrimSuffix(base, "/")
	switch {
	case strings.Contains(base, "/blobs/"):
		return base
	case strings.HasSuffix(base, "/templates/blobs"):
		return base + "/sha256:" + h
	case strings.HasSuffix(base, "/api/v1"):
		return base + "/templates/blobs/sha256:" + h
	}
	return base + "/api/v1/templates/blobs/sha256:" + h
}

// templateFetcher downloads template blobs from the masters into cache,
// authenticating with the node's API token and trusting the cluster CA.
type templateFetcher struct {
	cache   *templates.Cache
	apiURLs []string
	token   string
	http    *http.Client
}

func newTemplateFetcher(cache *templates.Cache, cred api.NodeCredentials, token string) (*templateFetcher, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cred.CACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cred.CACert)) {
			return nil, errors.New("nodeagent: credentials hold no valid CA certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &templateFetcher{cache: cache, apiURLs: cred.APIURLs, token: token, http: &http.Client{Transport: tr}}, nil
}

// Fetch is a TemplateFetcher: the cached blob, or a download from urls
// (the masters that hold it, as the leader sees them) and then from the other
// masters of the credentials, each tried in turn: every master keeps every
// template, so any one that runs can serve it. The cache checks the sha256.
func (f *templateFetcher) Fetch(ctx context.Context, digest string, urls []string, progress func(string)) (string, error) {
	h, err := templates.ParseDigest(digest)
	if err != nil {
		return "", api.Errorf(api.CodeWrongInput, "template digest %q: %v", digest, err)
	}
	if p, ok := f.cache.Path(h); ok {
		return p, nil
	}
	urls = fetchOrder(urls, f.apiURLs, h)
	if len(urls) == 0 {
		return "", api.Errorf(api.CodeUnavailable, "template sha256:%s is not cached and no master URL is known", h)
	}
	var errs []error
	for _, u := range urls {
		target := blobURL(u, h)
		p, err := f.cache.Fetch(ctx, h, func(w io.Writer) error { return f.download(ctx, target, w, progress) })
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
		if errors.Is(err, templates.ErrChecksum) || ctx.Err() != nil {
			break
		}
	}
	err = errors.Join(errs...)
	if errors.Is(err, templates.ErrChecksum) {
		return "", api.Errorf(api.CodeWrongInput, "template sha256:%s: %v", h, err)
	}
	return "", api.Errorf(api.CodeUnavailable, "fetch template sha256:%s: %v", h, err)
}

// fetchOrder is urls, then the blob URLs of the masters in apiURLs that
// urls does not name already.
func fetchOrder(urls, apiURLs []string, h string) []string {
	out := slices.Clone(urls)
	for _, u := range apiURLs {
		if !slices.Contains(out, blobURL(u, h)) && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

func (f *templateFetcher) download(ctx context.Context, url string, w io.Writer, progress func(string)) error {
	resp, err := templates.GetBlob(ctx, f.http, url, f.token)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	pw := &progressWriter{w: w, total: resp.ContentLength, report: progress, last: time.Now()}
	if _, err := io.Copy(pw, resp.Body); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

type progressWriter struct {
	w      io.Writer
	n      int64
	total  int64
	report func(string)
	last   time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.report != nil && time.Since(p.last) > time.Second {
		p.last = time.Now()
		if p.total > 0 {
			p.report(fmt.Sprintf("fetch: %d/%d MiB", p.n>>20, p.total>>20))
		} else {
			p.report(fmt.Sprintf("fetch: %d MiB", p.n>>20))
		}
	}
	return n, err
}
