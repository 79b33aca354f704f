package api

import (
	"context"
	"net/http"
)

// Health calls GET /health (no token needed).
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var h Health
	if err := c.do(ctx, request{method: http.MethodGet, path: "/health", out: &h}); err != nil {
		return nil, err
	}
	return &h, nil
}

// ClusterInfo calls GET /cluster.
func (c *Client) ClusterInfo(ctx context.Context) (*ClusterInfo, error) {
	var info ClusterInfo
	if err := c.do(ctx, request{method: http.MethodGet, path: "/cluster", out: &info}); err != nil {
		return nil, err
	}
	return &info, nil
}

// ClusterVerify calls POST /cluster/verify.
func (c *Client) ClusterVerify(ctx context.Context) (*VerifyReport, error) {
	var rep VerifyReport
	if err := c.do(ctx, request{method: http.MethodPost, path: "/cluster/verify", out: &rep}); err != nil {
		return nil, err
	}
	return &rep, nil
}
