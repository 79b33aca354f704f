package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// health answers GET /health without authentication, for load balancers.
func (s *server) health(c *gin.Context) {
	s.ok(c, http.StatusOK, Health{Master: s.b.MasterName()})
}

// clusterInfo answers GET /cluster.
func (s *server) clusterInfo(c *gin.Context) {
	info, err := s.b.ClusterInfo(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusOK, info)
}

// clusterVerify answers POST /cluster/verify. It takes no body; one, if sent,
// must be empty or an empty JSON object.
func (s *server) clusterVerify(c *gin.Context) {
	if err := s.bindOptional(c, &struct{}{}); err != nil {
		s.failBind(c, err)
		return
	}
	rep, err := s.b.ClusterVerify(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	if rep == nil {
		rep = &VerifyReport{OK: true}
	}
	if rep.Findings == nil {
		rep.Findings = []VerifyFinding{}
	}
	s.ok(c, http.StatusOK, rep)
}

// bindOptional is bind for routes whose body may be absent.
func (s *server) bindOptional(c *gin.Context, v any) error {
	if c.Request.Body == nil || c.Request.Body == http.NoBody || c.Request.ContentLength == 0 {
		return nil
	}
	return s.bind(c, v)
}
