package rapi

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// failoverInstance answers PUT /2/instances/I/failover {ignore_consistency,
// shutdown_timeout (seconds), iallocator, target_node}: drover fails a drbd
// instance over to its secondary, so a target other than it is refused by
// the opcode; iallocator is ignored.
func (h *Mount) failoverInstance(c *gin.Context) {
	var req map[string]any
	if err := body(c, &req); err != nil {
		h.fail(c, err)
		return
	}
	p := api.InstanceFailover{Name: c.Param("name")}
	for k, v := range req {
		switch k {
		case "ignore_consistency":
			p.IgnoreConsistency, _ = v.(bool)
		case "shutdown_timeout":
			secs, err := number(v, k)
			if err != nil || secs < 0 {
				h.fail(c, wrongInput("shutdown_timeout: want seconds >= 0"))
				return
			}
			p.ShutdownTimeout = (time.Duration(secs) * time.Second).String()
		case "iallocator", "dry_run":
		case "target_node":
			if s, _ := v.(string); s != "" {
				h.fail(c, wrongInput("target_node: drover fails a drbd instance over to its secondary only"))
				return
			}
		default:
			h.fail(c, wrongInput("failover: parameter %s not supported by drover", k))
			return
		}
	}
	h.submit(c, op(api.OpInstanceFailover, p))
}

// activateDisks answers PUT /2/instances/I/activate-disks[?ignore_size=0].
func (h *Mount) activateDisks(c *gin.Context) {
	ig, err := boolQuery(c, "ignore_size")
	if err == nil && ig {
		err = wrongInput("ignore_size is not supported by drover")
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.submit(c, op(api.OpInstanceActivateDisks, api.InstanceActivateDisks{Name: c.Param("name")}))
}

// deactivateDisks answers PUT /2/instances/I/deactivate-disks.
func (h *Mount) deactivateDisks(c *gin.Context) {
	h.submit(c, op(api.OpInstanceDeactivateDisks, api.InstanceName{Name: c.Param("name")}))
}
