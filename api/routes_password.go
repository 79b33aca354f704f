package api

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
)

// setPassword answers PUT /users/{name}/password with 204: the user's
// password for the Ganeti RAPI's HTTP Basic authentication. Synchronous, not
// a job, because the body is a secret.
func (s *server) setPassword(c *gin.Context) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("user name: %w", err))
		return
	}
	rb, ok := s.b.(RAPIBackend)
	if !ok {
		s.fail(c, Errorf(CodeUnavailable, "this master does not support passwords"))
		return
	}
	var req PasswordSet
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	if err := req.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	if err := rb.SetPassword(c.Request.Context(), name, req.Password); err != nil {
		s.fail(c, fmt.Errorf("set password of %s: %w", quoteShort(name), err))
		return
	}
	c.Status(http.StatusNoContent)
}
