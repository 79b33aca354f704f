package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// ListTemplates calls GET /templates.
func (c *Client) ListTemplates(ctx context.Context) ([]Template, error) {
	var out []Template
	if err := c.do(ctx, request{method: http.MethodGet, path: "/templates", out: &out}); err != nil {
		return nil, err
	}
	return out, nil
}

// GetTemplate calls GET /templates/{ref} ("name" or "name@version").
func (c *Client) GetTemplate(ctx context.Context, ref string) (*Template, error) {
	var t Template
	if err := c.do(ctx, request{method: http.MethodGet, path: "/templates/" + url.PathEscape(ref), out: &t}); err != nil {
		return nil, err
	}
	return &t, nil
}

// BuildTemplate calls POST /templates (job template.build).
func (c *Client) BuildTemplate(ctx context.Context, b TemplateBuild) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/templates", b)
}

// RemoveTemplate calls DELETE /templates/{name} (version 0: every version).
func (c *Client) RemoveTemplate(ctx context.Context, name string, version int) (uint64, error) {
	ref := name
	if version > 0 {
		ref += "@" + strconv.Itoa(version)
	}
	return c.submit(ctx, http.MethodDelete, "/templates/"+url.PathEscape(ref), nil)
}

// ImportTemplate streams the tarball r (size bytes, or -1 if unknown) to
// POST /templates/{name}/import on the preferred master. The upload is not
// repeated on another master: a stream cannot be replayed.
func (c *Client) ImportTemplate(ctx context.Context, name string, r io.Reader, size int64) (*Template, error) {
	base := c.Endpoint()
	u := base + APIPrefix + "/templates/" + url.PathEscape(name) + "/import"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, r)
	if err != nil {
		return nil, fmt.Errorf("api client: import: %w", err)
	}
	if size >= 0 {
		req.ContentLength = size
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("api client: POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("api client: POST %s: read answer: %w", u, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, decodeError(resp.StatusCode, data)
	}
	var t Template
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("api client: POST %s: decode answer: %w", u, err)
	}
	return &t, nil
}

// OpenTemplateBlob calls GET /templates/blobs/{digest} on the preferred
// master and returns the body (the caller closes it and checks the sha256).
func (c *Client) OpenTemplateBlob(ctx context.Context, digest string) (io.ReadCloser, error) {
	return c.openGet(ctx, "/templates/blobs/"+url.PathEscape(digest))
}
