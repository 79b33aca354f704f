package api

import (
	"context"
	"net/http"
)

// MigrateInstance calls POST /instances/{name}/migrate.
func (c *Client) MigrateInstance(ctx context.Context, name string, o MigrateOptions) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "migrate"), o)
}
