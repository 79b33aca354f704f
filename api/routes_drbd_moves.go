package api

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// moveRoutes are the routes of replace-disks, split-brain recovery,
// verify-disks, node evacuate/migrate/failover and cluster balance.
func (s *server) moveRoutes() []route {
	return []route{
		{http.MethodPost, "/instances/:name/replace-disks", RoleOperate, s.replaceDisks},
		{http.MethodPost, "/instances/:name/recover-split-brain", RoleAdmin, s.recoverSplitBrain},
		{http.MethodPost, "/cluster/verify-disks", RoleOperate, s.verifyDisks},
		{http.MethodPost, "/cluster/balance", RoleAdmin, s.balanceCluster},
		{http.MethodPost, "/nodes/:name/evacuate", RoleOperate, s.evacuateNode},
		{http.MethodPost, "/nodes/:name/migrate", RoleOperate, s.nodeMoveAll(OpNodeMigrate)},
		{http.MethodPost, "/nodes/:name/failover", RoleOperate, s.nodeMoveAll(OpNodeFailover)},
	}
}

func (s *server) replaceDisks(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var o ReplaceDisksOptions
	if err := s.bind(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceReplaceDisks, InstanceReplaceDisks{Name: name, ReplaceDisksOptions: o})
}

func (s *server) recoverSplitBrain(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var o RecoverSplitBrainOptions
	if err := s.bind(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceRecoverSplitBrain, InstanceRecoverSplitBrain{Name: name, RecoverSplitBrainOptions: o})
}

func (s *server) verifyDisks(c *gin.Context) {
	s.submitOp(c, OpClusterVerifyDisks, ClusterVerifyDisks{})
}

func (s *server) balanceCluster(c *gin.Context) {
	var o ClusterBalance
	if err := s.bindOptional(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpClusterBalance, o)
}

// nodeParam reads and checks the :name of a node route (answering on error).
func (s *server) nodeParam(c *gin.Context) (string, bool) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("node name: %w", err))
		return "", false
	}
	return name, true
}

func (s *server) evacuateNode(c *gin.Context) {
	name, ok := s.nodeParam(c)
	if !ok {
		return
	}
	var o NodeEvacuateOptions
	if err := s.bindOptional(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpNodeEvacuate, NodeEvacuate{Name: name, NodeEvacuateOptions: o})
}

func (s *server) nodeMoveAll(kind string) gin.HandlerFunc {
	return func(c *gin.Context) {
		name, ok := s.nodeParam(c)
		if !ok {
			return
		}
		s.submitOp(c, kind, NodeMigrate{Name: name})
	}
}
