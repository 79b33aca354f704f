package api

import (
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// principalKey is the gin context key of the authenticated Principal.
const principalKey = "drover.principal"

// logRequests logs one line per request: method, path, status, user, duration.
func (s *server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	user := ""
	if p, ok := principalOf(c); ok {
		user = p.User
	}
	s.log.Info("http request",
		"method", c.Request.Method,
		"path", c.Request.URL.Path,
		"status", c.Writer.Status(),
		"user", user,
		"duration", time.Since(start),
		"remote", c.ClientIP(),
	)
}

// recoverPanics turns a panic in a handler into a JSON internal error and a log
// line with the stack. http.ErrAbortHandler is re-raised, as net/http expects.
func (s *server) recoverPanics(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r)
		}
		s.log.Error("handler panic",
			"method", c.Request.Method,
			"path", c.Request.URL.Path,
			"panic", fmt.Sprint(r),
			"stack", string(debug.Stack()),
		)
		if c.Writer.Written() {
			c.Abort()
			return
		}
		c.Header("Cache-Control", "no-store")
		c.AbortWithStatusJSON(http.StatusInternalServerError, ErrorBody{Error: &Error{
			Code: CodeInternal, Message: "internal error; see the master's log",
		}})
	}()
	c.Next()
}

// limitBody caps the request body at MaxBodyBytes. A declared Content-Length
// above the cap is refused at once (413); otherwise reading past the cap fails
// with *http.MaxBytesError, which bind turns into 413.
func (s *server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > MaxBodyBytes {
		s.failStatus(c, http.StatusRequestEntityTooLarge,
			Errorf(CodeWrongInput, "request body larger than %d bytes", MaxBodyBytes))
		return
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = &limitedBody{rc: http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)}
	}
	c.Next()
}

// limitedBody marks errors of the body reader (other than io.EOF) as
// readerError, so that DecodeStrict does not report them as bad JSON.
type limitedBody struct{ rc io.ReadCloser }

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = &readerError{err: err}
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// authenticate checks the bearer token (signature, algorithm, exp, iss, aud
// by the Verifier; revocation and removed users by the Backend) and that its
// role allows need. 401 unauthorized or 403 forbidden otherwise.
func (s *server) authenticate(need string) gin.HandlerFunc {
	return func(c *gin.Context) {
		tok, err := bearerToken(c.Request)
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="drover"`)
			s.fail(c, err)
			return
		}
		p, err := s.v.Verify(tok, time.Now())
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="drover", error="invalid_token"`)
			s.fail(c, err)
			return
		}
		if err := s.b.CheckToken(c.Request.Context(), p); err != nil {
			if CodeOf(err) == CodeUnauthorized {
				c.Header("WWW-Authenticate", `Bearer realm="drover", error="invalid_token"`)
			}
			s.fail(c, fmt.Errorf("check token: %w", err))
			return
		}
		c.Set(principalKey, p)
		if !RoleAllows(p.Role, need) {
			s.fail(c, Errorf(CodeForbidden, "role %s of user %s may not do this (needs %s)", p.Role, quoteShort(p.User), need))
			return
		}
		c.Next()
	}
}

// bearerToken extracts the token of an "Authorization: Bearer <jwt>" header.
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", Errorf(CodeUnauthorized, "missing bearer token (Authorization: Bearer <token>)")
	}
	if len(h) > 1 {
		return "", Errorf(CodeUnauthorized, "more than one Authorization header")
	}
	scheme, tok, found := strings.Cut(h[0], " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", Errorf(CodeUnauthorized, "Authorization header is not a bearer token")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", Errorf(CodeUnauthorized, "empty bearer token")
	}
	if len(tok) > 8192 {
		return "", Errorf(CodeUnauthorized, "bearer token too long")
	}
	return tok, nil
}

// principalOf returns the authenticated caller of c, if any.
func principalOf(c *gin.Context) (Principal, bool) {
	v, ok := c.Get(principalKey)
	if !ok {
		return Principal{}, false
	}
	p, ok := v.(Principal)
	return p, ok
}
