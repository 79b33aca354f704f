package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
)

// OpClusterRepair removes orphans (domains and instance files on nodes that
// no instance record claims, as cluster verify lists them); params
// ClusterRepair. It takes the cluster lock.
const OpClusterRepair = "cluster.repair"

// ClusterRepair are the params of OpClusterRepair.
type ClusterRepair struct {
	// DryRun lists what would be removed, removing nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// Validate implements the opcode params contract (nothing to check).
func (ClusterRepair) Validate() error { return nil }

// clusterRepair answers POST /cluster/repair with 202 and the job.
func (s *server) clusterRepair(c *gin.Context) {
	var req ClusterRepair
	if err := s.bindOptional(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	s.submit(c, JobSubmit{Ops: []OpCode{MustOp(OpClusterRepair, req)}})
}

// ClusterRepair calls POST /cluster/repair and returns the job's id.
func (c *Client) ClusterRepair(ctx context.Context, req ClusterRepair) (uint64, error) {
	return c.submit(ctx, http.MethodPost, "/cluster/repair", req)
}
