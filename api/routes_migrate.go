package api

import "github.com/gin-gonic/gin"

// migrateInstance answers POST /instances/{name}/migrate.
func (s *server) migrateInstance(c *gin.Context) {
	name, ok := s.instanceName(c)
	if !ok {
		return
	}
	var o MigrateOptions
	if err := s.bindOptional(c, &o); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpInstanceMigrate, InstanceMigrate{Name: name, MigrateOptions: o})
}
