package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"

	"github.com/gin-gonic/gin"
)

// APIPrefix is the path prefix of every route.
const APIPrefix = "/api/v1"

// MaxBodyBytes is the largest request body the server reads (1 MiB); larger
// bodies are refused with 413 and code wrong_input.
const MaxBodyBytes = 1 << 20

// MaxWaitTimeout caps the timeout of GET /jobs/{id}/wait; DefaultWaitTimeout is
// used when the request gives none.
const (
	MaxWaitTimeout     = 60e9 // 60s, as a time.Duration
	DefaultWaitTimeout = 30e9 // 30s
)

// RouteInfo is one route of the server, as gin registered it.
type RouteInfo struct {
	// Method is the HTTP method.
	Method string
	// Path is the full path, parameters written ":name" (gin's syntax).
	Path string
	// Role is the least role the route needs; "" when it needs no token.
	Role string
}

// server serves the REST API over a Backend.
type server struct {
	b      Backend
	v      *Verifier
	log    *slog.Logger
	engine *gin.Engine
	mounts []Mount
}

var ginModeOnce sync.Once

// NewServer returns the HTTP handler of the REST API under /api/v1, served by
// b, authenticating bearer tokens with v, logging one line per request to log.
// TLS is the caller's business (the handler is plain http.Handler). Mounts
// add further route trees (the Ganeti RAPI) to the same engine.
func NewServer(b Backend, v *Verifier, log *slog.Logger, mounts ...Mount) http.Handler {
	ginModeOnce.Do(func() { gin.SetMode(gin.ReleaseMode) })
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{b: b, v: v, log: log, mounts: mounts}
	e := gin.New()
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	e.RemoveExtraSlash = false
	e.UseRawPath = false
	e.ContextWithFallback = true
	// No proxy is trusted: ClientIP is the peer address.
	if err := e.SetTrustedProxies(nil); err != nil {
		log.Warn("set trusted proxies", "err", err)
	}
	e.Use(s.logRequests, s.recoverPanics, s.limitBodyRoute)
	e.NoRoute(func(c *gin.Context) {
		if s.mountNoRoute(c) {
			return
		}
		s.fail(c, Errorf(CodeUnknownEntity, "no route %s %s", c.Request.Method, quoteShort(c.Request.URL.Path)))
	})
	e.NoMethod(func(c *gin.Context) {
		if s.mountNoRoute(c) {
			return
		}
		s.failStatus(c, http.StatusMethodNotAllowed, Errorf(CodeWrongInput, "method %s not allowed on %s", c.Request.Method, quoteShort(c.Request.URL.Path)))
	})
	g := e.Group(APIPrefix)
	for _, r := range s.routes() {
		handlers := []gin.HandlerFunc{}
		switch r.role {
		case "":
		case RoleNode:
			handlers = append(handlers, s.authenticateNode)
		default:
			handlers = append(handlers, s.authenticate(r.role))
		}
		handlers = append(handlers, r.h)
		g.Handle(r.method, r.path, handlers...)
	}
	for _, m := range mounts {
		m.Register(e)
	}
	s.engine = e
	return s
}

// mountNoRoute lets the mount that owns an unknown path answer it.
func (s *server) mountNoRoute(c *gin.Context) bool {
	for _, m := range s.mounts {
		if m.NoRoute(c) {
			return true
		}
	}
	return false
}

// ServeHTTP implements http.Handler.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.engine.ServeHTTP(w, r)
}

// Routes lists the routes of a handler made by NewServer, sorted by path then
// method; it returns nil for any other handler.
func Routes(h http.Handler) []RouteInfo {
	s, ok := h.(*server)
	if !ok {
		return nil
	}
	roles := map[string]string{}
	for _, r := range s.routes() {
		roles[r.method+" "+APIPrefix+r.path] = r.role
	}
	var out []RouteInfo
	for _, r := range s.engine.Routes() {
		out = append(out, RouteInfo{Method: r.Method, Path: r.Path, Role: roles[r.Method+" "+r.Path]})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// route is one entry of the route table: role "" means no authentication.
type route struct {
	method, path, role string
	h                  gin.HandlerFunc
}

// routes is the one table of the API's routes and the role each needs.
func (s *server) routes() []route {
	return append(append(append(append(s.baseRoutes(), s.instanceRoutes()...), s.templateRoutes()...), s.moveRoutes()...), s.opsRoutes()...)
}

// baseRoutes are the routes of the cluster core.
func (s *server) baseRoutes() []route {
	return []route{
		{http.MethodGet, "/health", "", s.health},
		{http.MethodGet, "/cluster", RoleRead, s.clusterInfo},
		{http.MethodPatch, "/cluster", RoleAdmin, s.clusterModify},
		{http.MethodPost, "/cluster/verify", RoleRead, s.clusterVerify},
		{http.MethodPost, "/cluster/repair", RoleAdmin, s.clusterRepair},

		{http.MethodGet, "/nodes", RoleRead, s.listNodes},
		{http.MethodPost, "/nodes", RoleAdmin, s.addNode},
		{http.MethodGet, "/nodes/:name", RoleRead, s.getNode},
		{http.MethodPatch, "/nodes/:name", RoleOperate, s.modifyNode},
		{http.MethodDelete, "/nodes/:name", RoleAdmin, s.removeNode},
		{http.MethodPost, "/nodes/:name/credentials", RoleAdmin, s.nodeCredentials},
		{http.MethodPut, "/nodes/:name/fence", RoleAdmin, s.setNodeFence},
		{http.MethodDelete, "/nodes/:name/fence", RoleAdmin, s.deleteNodeFence},
		{http.MethodPost, "/nodes/:name/power", RoleAdmin, s.nodePower},

		{http.MethodGet, "/jobs", RoleRead, s.listJobs},
		{http.MethodPost, "/jobs", RoleOperate, s.submitJob},
		{http.MethodGet, "/jobs/:id", RoleRead, s.getJob},
		{http.MethodDelete, "/jobs/:id", RoleOperate, s.cancelJob},
		{http.MethodGet, "/jobs/:id/wait", RoleRead, s.waitJob},
		{http.MethodPost, "/debug/delay", RoleOperate, s.debugDelay},

		{http.MethodGet, "/users", RoleAdmin, s.listUsers},
		{http.MethodPost, "/users", RoleAdmin, s.addUser},
		{http.MethodDelete, "/users/:name", RoleAdmin, s.removeUser},
		{http.MethodPut, "/users/:name/password", RoleAdmin, s.setPassword},
		{http.MethodGet, "/users/:name/tokens", RoleAdmin, s.listTokens},
		{http.MethodPost, "/users/:name/tokens", RoleAdmin, s.issueToken},
		// Any authenticated user may revoke their own token; the handler checks.
		{http.MethodDelete, "/tokens/:id", RoleRead, s.revokeToken},
	}
}

// fail writes err as an ErrorBody with the status of its code. This is the
// one place where errors become answers (with failStatus for 405 and 413).
func (s *server) fail(c *gin.Context, err error) {
	s.failStatus(c, HTTPStatus(CodeOf(err)), err)
}

// failStatus writes err as an ErrorBody with the given status.
func (s *server) failStatus(c *gin.Context, status int, err error) {
	var ae *Error
	var body *Error
	switch {
	case errors.As(err, &ae) && ae.Code != CodeInternal && ae.Code != "":
		body = &Error{Code: ae.Code, Message: ae.Message}
		if err != error(ae) {
			// Keep the context added by wrapping ("node name: ...").
			body.Message = trimCodePrefix(err.Error(), ae)
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		status = http.StatusServiceUnavailable
		body = &Error{Code: CodeUnavailable, Message: "request timed out or was canceled"}
	case CodeOf(err) != CodeInternal:
		// A coded sentinel (NewSentinel) in the chain.
		body = &Error{Code: CodeOf(err), Message: err.Error()}
	default:
		// Do not leak internals: log them, answer a generic message.
		s.log.Error("internal error", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		status = http.StatusInternalServerError
		body = &Error{Code: CodeInternal, Message: "internal error; see the master's log"}
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, ErrorBody{Error: body})
}

// trimCodePrefix removes the "code: " that *Error.Error puts in front of its
// message from a wrapped error string.
func trimCodePrefix(s string, ae *Error) string {
	inner := ae.Error()
	p := string(ae.Code) + ": "
	if i := len(s) - len(inner); i >= 0 && s[i:] == inner {
		return s[:i] + inner[len(p):]
	}
	return s
}

// ok writes v as JSON with the given status.
func (s *server) ok(c *gin.Context, status int, v any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, v)
}

// accepted answers 202 with the job id and its URL in Location.
func (s *server) accepted(c *gin.Context, id uint64) {
	c.Header("Location", APIPrefix+"/jobs/"+uitoa(id))
	s.ok(c, http.StatusAccepted, JobAccepted{JobID: id})
}

// bind decodes the request body strictly into v (see DecodeStrict).
func (s *server) bind(c *gin.Context, v any) error {
	err := DecodeStrict(c.Request.Body, v)
	if err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &bodyTooLarge{limit: mbe.Limit}
	}
	return err
}

// bodyTooLarge is answered with 413 and code wrong_input.
type bodyTooLarge struct{ limit int64 }

func (e *bodyTooLarge) Error() string {
	return "request body larger than " + uitoa(uint64(e.limit)) + " bytes"
}

// failBind answers a bind error: 413 for oversized bodies, else by its code.
func (s *server) failBind(c *gin.Context, err error) {
	var tl *bodyTooLarge
	if errors.As(err, &tl) {
		s.failStatus(c, http.StatusRequestEntityTooLarge, Errorf(CodeWrongInput, "%s", tl.Error()))
		return
	}
	s.fail(c, err)
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
