package api

import (
	"context"
	"net/http"
	"net/url"
)

// ReplaceDisks calls POST /instances/{name}/replace-disks.
func (c *Client) ReplaceDisks(ctx context.Context, name string, o ReplaceDisksOptions) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "replace-disks"), o)
}

// RecoverSplitBrain calls POST /instances/{name}/recover-split-brain.
func (c *Client) RecoverSplitBrain(ctx context.Context, name, discard string) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "recover-split-brain"), RecoverSplitBrainOptions{Discard: discard})
}

// VerifyDisks calls POST /cluster/verify-disks.
func (c *Client) VerifyDisks(ctx context.Context) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/cluster/verify-disks", nil)
}

// BalanceCluster calls POST /cluster/balance.
func (c *Client) BalanceCluster(ctx context.Context, o ClusterBalance) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/cluster/balance", o)
}

// EvacuateNode calls POST /nodes/{name}/evacuate.
func (c *Client) EvacuateNode(ctx context.Context, name string, o NodeEvacuateOptions) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/nodes/"+url.PathEscape(name)+"/evacuate", o)
}

// MigrateNode calls POST /nodes/{name}/migrate (failover: POST
// /nodes/{name}/failover).
func (c *Client) MigrateNode(ctx context.Context, name string, failover bool) (uint64, error) {
	verb := "/migrate"
	if failover {
		verb = "/failover"
	}
	return c.submit(ctx, http.MethodPost, "/nodes/"+url.PathEscape(name)+verb, nil)
}
