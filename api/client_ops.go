package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Backup calls GET /cluster/backup and copies the backup to w
// (docs/operations.md); it returns the number of bytes written.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	rc, err := c.openGet(ctx, "/cluster/backup")
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.Copy(w, rc)
	if err != nil {
		return n, fmt.Errorf("api client: backup: %w", err)
	}
	return n, nil
}

// openGet performs a GET of path (under APIPrefix) on the preferred master
// and returns the body of a 200 answer, unread.
func (c *Client) openGet(ctx context.Context, path string) (io.ReadCloser, error) {
	u := c.Endpoint() + APIPrefix + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("api client: GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, decodeError(resp.StatusCode, data)
	}
	return resp.Body, nil
}

// ClusterMembers calls GET /cluster/members.
func (c *Client) ClusterMembers(ctx context.Context) ([]EtcdMember, error) {
	var out []EtcdMember
	err := c.do(ctx, request{method: http.MethodGet, path: "/cluster/members", out: &out})
	return out, err
}

// AddMaster calls POST /cluster/masters.
func (c *Client) AddMaster(ctx context.Context, a MasterAdd) ([]EtcdMember, error) {
	var out []EtcdMember
	err := c.do(ctx, request{method: http.MethodPost, path: "/cluster/masters", body: a, out: &out})
	return out, err
}

// RemoveMaster calls DELETE /cluster/masters/{name}.
func (c *Client) RemoveMaster(ctx context.Context, name string) ([]EtcdMember, error) {
	var out []EtcdMember
	err := c.do(ctx, request{method: http.MethodDelete, path: "/cluster/masters/" + url.PathEscape(name), out: &out})
	return out, err
}
