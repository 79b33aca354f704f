package rapi

import (
	"fmt"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

const principalKey = "drover.rapi.principal"

// authenticate checks HTTP Basic (a drover user with a password, see `drover
// user passwd`) or a drover bearer token. Ganeti's read access is drover's
// role read, write is operate or admin. Without credentials only reads pass,
// and only when the operator allowed anonymous reads.
func (h *Mount) authenticate(access string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if access == "" {
			c.Next()
			return
		}
		p, found, err := h.credentials(c)
		if err != nil {
			h.fail(c, err)
			return
		}
		if !found {
			if access == accessRead && h.b.RAPIAnonymousReads() {
				c.Next()
				return
			}
			h.fail(c, api.Errorf(api.CodeUnauthorized, "authentication required (HTTP Basic with a drover user and its password, or a bearer token)"))
			return
		}
		c.Set(principalKey, p)
		need := api.RoleRead
		if access == accessWrite {
			need = api.RoleOperate
		}
		if !api.RoleAllows(p.Role, need) {
			h.fail(c, api.Errorf(api.CodeForbidden, "user %s with role %s has no %s access", p.User, p.Role, access))
			return
		}
		c.Next()
	}
}

// credentials reads the Authorization header; found is false when there is
// none.
func (h *Mount) credentials(c *gin.Context) (api.Principal, bool, error) {
	hdr := c.Request.Header.Values("Authorization")
	if len(hdr) == 0 {
		return api.Principal{}, false, nil
	}
	if len(hdr) > 1 {
		return api.Principal{}, true, api.Errorf(api.CodeUnauthorized, "more than one Authorization header")
	}
	ctx := c.Request.Context()
	scheme, rest, _ := strings.Cut(hdr[0], " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		user, pw, okBasic := c.Request.BasicAuth()
		if !okBasic || user == "" {
			return api.Principal{}, true, api.Errorf(api.CodeUnauthorized, "malformed HTTP Basic credentials")
		}
		p, err := h.b.CheckPassword(ctx, user, pw)
		return p, true, err
	case strings.EqualFold(scheme, "Bearer"):
		tok := strings.TrimSpace(rest)
		if tok == "" || len(tok) > 8192 {
			return api.Principal{}, true, api.Errorf(api.CodeUnauthorized, "bad bearer token")
		}
		p, err := h.v.Verify(tok, time.Now())
		if err != nil {
			return p, true, err
		}
		if err := h.b.CheckToken(ctx, p); err != nil {
			return p, true, fmt.Errorf("check token: %w", err)
		}
		return p, true, nil
	}
	return api.Principal{}, true, api.Errorf(api.CodeUnauthorized, "unsupported authorization scheme %q", scheme)
}

// principal is the authenticated caller (anonymous readers have none).
func principal(c *gin.Context) api.Principal {
	if v, found := c.Get(principalKey); found {
		if p, isP := v.(api.Principal); isP {
			return p
		}
	}
	return api.Principal{User: "anonymous", Role: api.RoleRead}
}
