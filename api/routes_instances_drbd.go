package api

import "github.com/gin-gonic/gin"

// failoverInstance answers POST /instances/{name}/failover.
func (s *server) failoverInstance(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var o FailoverOptions
	if err := s.bindOptional(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceFailover, InstanceFailover{Name: name, FailoverOptions: o})
}
