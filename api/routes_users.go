package api

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
)

// listUsers answers GET /users.
func (s *server) listUsers(c *gin.Context) {
	users, err := s.b.ListUsers(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	if users == nil {
		users = []User{}
	}
	s.ok(c, http.StatusOK, users)
}

// addUser answers POST /users with 201 and the new user.
func (s *server) addUser(c *gin.Context) {
	var req UserAdd
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	if err := req.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	u, err := s.b.AddUser(c.Request.Context(), req)
	if err != nil {
		s.fail(c, fmt.Errorf("add user %s: %w", quoteShort(req.Name), err))
		return
	}
	s.ok(c, http.StatusCreated, u)
}

// removeUser answers DELETE /users/{name} with 204. The user's tokens stop
// working at once.
func (s *server) removeUser(c *gin.Context) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("user name: %w", err))
		return
	}
	if err := s.b.RemoveUser(c.Request.Context(), name); err != nil {
		s.fail(c, fmt.Errorf("remove user %s: %w", quoteShort(name), err))
		return
	}
	c.Status(http.StatusNoContent)
}

// issueToken answers POST /users/{name}/tokens with 201 and the signed token.
func (s *server) issueToken(c *gin.Context) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("user name: %w", err))
		return
	}
	var req TokenRequest
	if err := s.bindOptional(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	ttl, err := req.ParseTTL()
	if err != nil {
		s.fail(c, err)
		return
	}
	t, err := s.b.IssueToken(c.Request.Context(), name, ttl)
	if err != nil {
		s.fail(c, fmt.Errorf("issue token for %s: %w", quoteShort(name), err))
		return
	}
	s.ok(c, http.StatusCreated, t)
}

// listTokens answers GET /users/{name}/tokens (never with the secrets).
func (s *server) listTokens(c *gin.Context) {
	name := c.Param("name")
	if err := ValidHostname(name); err != nil {
		s.fail(c, fmt.Errorf("user name: %w", err))
		return
	}
	toks, err := s.b.ListTokens(c.Request.Context(), name)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]Token, len(toks))
	for i, t := range toks {
		t.Token = ""
		out[i] = t
	}
	s.ok(c, http.StatusOK, out)
}

// revokeToken answers DELETE /tokens/{id} with 204: admins may revoke any
// token, other users only their own.
func (s *server) revokeToken(c *gin.Context) {
	id := c.Param("id")
	if err := validTokenID(id); err != nil {
		s.fail(c, err)
		return
	}
	p, _ := principalOf(c)
	if !RoleAllows(p.Role, RoleAdmin) && id != p.TokenID {
		own, err := s.b.ListTokens(c.Request.Context(), p.User)
		if err != nil {
			s.fail(c, fmt.Errorf("list own tokens: %w", err))
			return
		}
		if !slices.ContainsFunc(own, func(t Token) bool { return t.ID == id }) {
			s.fail(c, Errorf(CodeForbidden, "only an admin may revoke another user's token"))
			return
		}
	}
	if err := s.b.RevokeToken(c.Request.Context(), id); err != nil {
		s.fail(c, fmt.Errorf("revoke token %s: %w", quoteShort(id), err))
		return
	}
	c.Status(http.StatusNoContent)
}
