package api

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// setNodeFence answers PUT /nodes/{name}/fence (admin; not a job: the body
// holds the device's password, which a job's parameters would show).
func (s *server) setNodeFence(c *gin.Context) {
	s.nodeFence(c, true)
}

// deleteNodeFence answers DELETE /nodes/{name}/fence.
func (s *server) deleteNodeFence(c *gin.Context) {
	s.nodeFence(c, false)
}

func (s *server) nodeFence(c *gin.Context, set bool) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("node name: %w", err))
		return
	}
	fb, ok := s.b.(NodeFenceBackend)
	if !ok {
		s.fail(c, Errorf(CodeWrongState, "this server keeps no fence devices"))
		return
	}
	var f *NodeFence
	if set {
		f = &NodeFence{}
		if err := s.bind(c, f); err != nil {
			s.failBind(c, err)
			return
		}
	}
	if err := fb.SetNodeFence(c.Request.Context(), name, f); err != nil {
		s.fail(c, err)
		return
	}
	n, err := s.b.GetNode(c.Request.Context(), name)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusOK, n)
}

// nodePower answers POST /nodes/{name}/power with a node.power job.
func (s *server) nodePower(c *gin.Context) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("node name: %w", err))
		return
	}
	var req NodePower
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	switch req.Action {
	case PowerOn, PowerOff, PowerStatus:
	default:
		s.fail(c, Errorf(CodeWrongInput, "power action %s: want on, off or status", quoteShort(req.Action)))
		return
	}
	s.submit(c, JobSubmit{Ops: []OpCode{MustOp(OpNodePower, NodePowerOp{Name: name, Action: req.Action})}})
}
