package ui

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// Paths of the dashboard.
const (
	// Prefix is where the dashboard is served.
	Prefix = "/ui"
	// LoginLinksPath is POST with a bearer token: a one-time login link.
	LoginLinksPath = Prefix + "/api/login-links"
	// OncePath is GET ?once=CODE: redeem a one-time link for a session.
	OncePath = Prefix + "/login"
	// EventsPath streams the dashboard's view (server-sent events).
	EventsPath = Prefix + "/api/events"
)

// Backend is what the dashboard needs from a master.
type Backend interface {
	api.Backend
	ListInstances(ctx context.Context) ([]api.Instance, error)
	GetInstance(ctx context.Context, name string) (*api.Instance, error)
	// CheckPassword checks a user's password (see `drover user passwd`).
	CheckPassword(ctx context.Context, user, password string) (api.Principal, error)
}

// Notifier is optional on a Backend: Changed returns a channel that is
// closed at the next change of the cluster's state (nil when it cannot
// tell; the feed then refreshes every RefreshInterval only).
type Notifier interface {
	Changed() <-chan struct{}
}

// Mount serves the dashboard on the API server's engine (an api.Mount).
type Mount struct {
	b    Backend
	v    *api.Verifier
	log  *slog.Logger
	once *onceCodes
	feed *feed
	// done is closed by Close: open event streams end.
	done      chan struct{}
	closeOnce sync.Once
}

var _ api.Mount = (*Mount)(nil)

// New returns the dashboard over b, checking tokens with v.
func New(b Backend, v *api.Verifier, log *slog.Logger) *Mount {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("api", "ui")
	return &Mount{b: b, v: v, log: log, once: newOnceCodes(OnceTTL),
		feed: newFeed(b, log), done: make(chan struct{})}
}

// Close ends the open event streams (http.Server.RegisterOnShutdown: a
// stream never goes idle, so Shutdown alone would wait for it).
func (m *Mount) Close() { m.closeOnce.Do(func() { close(m.done) }) }

// Register implements api.Mount.
func (m *Mount) Register(e *gin.Engine) {
	e.GET(Prefix, m.index)
	e.GET(Prefix+"/", m.index)
	e.GET(Prefix+"/assets/:file", m.asset)
	e.GET(OncePath, m.redeemOnce)
	e.POST(LoginLinksPath, m.issueOnce)
	e.POST(Prefix+"/api/login", m.sameOrigin, m.login)
	e.POST(Prefix+"/api/logout", m.sameOrigin, m.session(api.RoleRead), m.logout)
	e.GET(Prefix+"/api/session", m.session(api.RoleRead), m.sessionInfo)
	e.GET(EventsPath, m.session(api.RoleRead), m.events)
	e.POST(Prefix+"/api/jobs/:id/cancel", m.sameOrigin, m.session(api.RoleOperate), m.cancelJob)
}

// NoRoute implements api.Mount: unknown /ui paths get the API's JSON 404.
func (m *Mount) NoRoute(*gin.Context) bool { return false }

// fail answers err as the API does: an api.ErrorBody with the code's status.
func (m *Mount) fail(c *gin.Context, err error) {
	code := api.CodeOf(err)
	msg := err.Error()
	if code == api.CodeInternal {
		m.log.Error("ui internal error", "path", c.Request.URL.Path, "err", err)
		msg = "internal error; see the master's log"
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(api.HTTPStatus(code), api.ErrorBody{Error: &api.Error{Code: code, Message: trimCode(msg, code)}})
}

// trimCode drops the "code: " prefix *api.Error puts before its message.
func trimCode(msg string, code api.Code) string {
	p := string(code) + ": "
	if len(msg) > len(p) && msg[:len(p)] == p {
		return msg[len(p):]
	}
	return msg
}

// ok answers v as JSON.
func ok(c *gin.Context, v any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}

// now is the clock of sessions and one-time codes (tests may not change it).
var now = time.Now
