package api

import (
	"context"
	"net/http"
)

// FailoverInstance calls POST /instances/{name}/failover.
func (c *Client) FailoverInstance(ctx context.Context, name string, o FailoverOptions) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "failover"), o)
}

// ActivateDisks calls POST /instances/{name}/activate-disks.
func (c *Client) ActivateDisks(ctx context.Context, name string) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "activate-disks"), nil)
}

// DeactivateDisks calls POST /instances/{name}/deactivate-disks.
func (c *Client) DeactivateDisks(ctx context.Context, name string) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "deactivate-disks"), nil)
}
