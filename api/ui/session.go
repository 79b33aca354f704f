package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/drover-project/drover/api"
)

// Sessions.
const (
	// CookieName is the session cookie: a drover bearer token of the user.
	CookieName = "drover_session"
	// SessionTTL is the lifetime of a session (of its token).
	SessionTTL = 12 * time.Hour
	// HeaderUI must be sent (value "1") with every POST of the page: a
	// cross-site form cannot set it, and a cross-site script that tries
	// needs a CORS preflight the master never grants.
	HeaderUI = "X-Drover-UI"
)

const principalKey = "drover.ui.principal"
const tokenKey = "drover.ui.token"

// Session is the answer of GET /ui/api/session.
type Session struct {
	User string `json:"user"`
	Role string `json:"role"`
	// CanCancel is whether the role may cancel jobs (operate or admin).
	CanCancel bool      `json:"can_cancel"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Login is the body of POST /ui/api/login: a user and password, or a token.
type Login struct {
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
}

// sameOrigin refuses POSTs without HeaderUI or from another origin.
func (m *Mount) sameOrigin(c *gin.Context) {
	if c.GetHeader(HeaderUI) != "1" {
		m.fail(c, api.Errorf(api.CodeForbidden, "missing %s header (requests come from the dashboard's page)", HeaderUI))
		return
	}
	if o := c.GetHeader("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != c.Request.Host {
			m.fail(c, api.Errorf(api.CodeForbidden, "cross-origin request refused"))
			return
		}
	}
	c.Next()
}

// session authenticates the session cookie and checks the role allows need.
func (m *Mount) session(need string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ck, err := c.Request.Cookie(CookieName)
		if err != nil || ck.Value == "" {
			m.fail(c, api.Errorf(api.CodeUnauthorized, "not logged in"))
			return
		}
		p, err := m.checkToken(c, ck.Value)
		if err != nil {
			clearCookie(c)
			m.fail(c, err)
			return
		}
		c.Set(principalKey, p)
		c.Set(tokenKey, ck.Value)
		if !api.RoleAllows(p.Role, need) {
			m.fail(c, api.Errorf(api.CodeForbidden, "role %s of user %s may not do this (needs %s)", p.Role, p.User, need))
			return
		}
		c.Next()
	}
}

// checkToken verifies a bearer token as the API does (signature, expiry,
// revocation, removed users); node tokens are refused.
func (m *Mount) checkToken(c *gin.Context, tok string) (api.Principal, error) {
	if len(tok) > 8192 {
		return api.Principal{}, api.Errorf(api.CodeUnauthorized, "token too long")
	}
	p, err := m.v.Verify(tok, now())
	if err != nil {
		return p, err
	}
	if p.Role == api.RoleNode {
		return p, api.Errorf(api.CodeUnauthorized, "node tokens cannot log in")
	}
	if err := m.b.CheckToken(c.Request.Context(), p); err != nil {
		return p, fmt.Errorf("check token: %w", err)
	}
	return p, nil
}

func principal(c *gin.Context) api.Principal {
	v, _ := c.Get(principalKey)
	p, _ := v.(api.Principal)
	return p
}

// login checks a password or a token and starts a session.
func (m *Mount) login(c *gin.Context) {
	var l Login
	if err := api.DecodeStrict(http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10), &l); err != nil {
		m.fail(c, err)
		return
	}
	var p api.Principal
	var err error
	switch {
	case l.Token != "" && l.User == "" && l.Password == "":
		p, err = m.checkToken(c, l.Token)
	case l.Token == "" && l.User != "" && l.Password != "":
		p, err = m.b.CheckPassword(c.Request.Context(), l.User, l.Password)
	default:
		err = api.Errorf(api.CodeWrongInput, "give a user and its password, or a token")
	}
	if err != nil {
		m.log.Info("ui login refused", "user", l.User, "remote", c.ClientIP(), "err", err)
		m.fail(c, err)
		return
	}
	s, err := m.startSession(c, p.User)
	if err != nil {
		m.fail(c, err)
		return
	}
	ok(c, s)
}

// startSession issues a session token for user and sets the cookie.
func (m *Mount) startSession(c *gin.Context, user string) (*Session, error) {
	t, err := m.b.IssueToken(c.Request.Context(), user, SessionTTL)
	if err != nil {
		return nil, fmt.Errorf("issue session token: %w", err)
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: CookieName, Value: t.Token, Path: Prefix,
		Expires: t.ExpiresAt, MaxAge: int(time.Until(t.ExpiresAt).Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
	m.log.Info("ui session started", "user", t.User, "role", t.Role, "token_id", t.ID, "remote", c.ClientIP())
	return &Session{User: t.User, Role: t.Role, CanCancel: api.RoleAllows(t.Role, api.RoleOperate), ExpiresAt: t.ExpiresAt}, nil
}

func clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// logout revokes the session's token and clears the cookie.
func (m *Mount) logout(c *gin.Context) {
	p := principal(c)
	if err := m.b.RevokeToken(c.Request.Context(), p.TokenID); err != nil {
		m.fail(c, fmt.Errorf("revoke session token: %w", err))
		return
	}
	clearCookie(c)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}

// sessionInfo answers who is logged in.
func (m *Mount) sessionInfo(c *gin.Context) {
	p := principal(c)
	tok, _ := c.Get(tokenKey)
	s := Session{User: p.User, Role: p.Role, CanCancel: api.RoleAllows(p.Role, api.RoleOperate)}
	if t, isStr := tok.(string); isStr {
		s.ExpiresAt = tokenExpiry(t)
	}
	ok(c, s)
}

// tokenExpiry reads the exp claim of a token that was verified already.
func tokenExpiry(tok string) time.Time {
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil || c.ExpiresAt == nil {
		return time.Time{}
	}
	return c.ExpiresAt.UTC()
}
