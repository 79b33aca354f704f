package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
)

// cleanupInstance answers POST /instances/{name}/cleanup: the failure counts
// are cleared (all nodes', or the body's node's) by an instance.cleanup job.
func (s *server) cleanupInstance(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var o CleanupOptions
	if err := s.bindOptional(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceCleanup, InstanceCleanup{Name: name, CleanupOptions: o})
}

// CleanupInstance calls POST /instances/{name}/cleanup.
func (c *Client) CleanupInstance(ctx context.Context, name string, o CleanupOptions) (uint64, error) {
	return c.submit(ctx, http.MethodPost, instPath(name, "cleanup"), o)
}
