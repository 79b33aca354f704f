package rapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// Version is the RAPI version /version answers (Ganeti's RAPI_VERSION).
const Version = 2

// Access levels of Ganeti's RAPI users.
const (
	accessRead  = "read"
	accessWrite = "write"
)

// Backend is what the RAPI layer talks to: the master's api.Backend with its
// optional instance and RAPI parts.
type Backend interface {
	api.Backend
	api.InstanceBackend
	api.RAPIBackend
}

// Mount serves the RAPI on the API server's engine (an api.Mount).
type Mount struct {
	b       Backend
	v       *api.Verifier
	log     *slog.Logger
	version string
}

// New returns the RAPI mount over b; tokens are checked with v; version is
// drover's version, shown as software_version.
func New(b Backend, v *api.Verifier, version string, log *slog.Logger) *Mount {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mount{b: b, v: v, log: log.With("api", "rapi"), version: version}
}

var _ api.Mount = (*Mount)(nil)

// route is one RAPI resource method and the access it needs.
type route struct {
	method, path, access string
	h                    gin.HandlerFunc
}

func (h *Mount) routes() []route {
	r, w := accessRead, accessWrite
	get, put, post, del := http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete
	return []route{
		{get, "/version", "", h.getVersion},
		{get, "/2", "", h.getRoot},
		{get, "/2/info", r, h.getInfo},
		{get, "/2/features", "", h.getFeatures},
		{get, "/2/os", r, h.getOS},
		{get, "/2/tags", r, h.getTags(tagCluster)},
		{put, "/2/tags", w, h.addTags(tagCluster)},
		{del, "/2/tags", w, h.deleteTags(tagCluster)},

		{get, "/2/groups", r, h.listGroups},
		{get, "/2/groups/:name", r, h.getGroup},
		{get, "/2/groups/:name/tags", r, h.getGroupTags},

		{get, "/2/nodes", r, h.listNodes},
		{get, "/2/nodes/:name", r, h.getNode},
		{get, "/2/nodes/:name/role", r, h.getNodeRole},
		{put, "/2/nodes/:name/role", w, h.setNodeRole},
		{post, "/2/nodes/:name/evacuate", w, h.evacuateNode},
		{post, "/2/nodes/:name/migrate", w, h.migrateNode},
		{get, "/2/nodes/:name/tags", r, h.getTags(tagNode)},
		{put, "/2/nodes/:name/tags", w, h.addTags(tagNode)},
		{del, "/2/nodes/:name/tags", w, h.deleteTags(tagNode)},

		{get, "/2/instances", r, h.listInstances},
		{post, "/2/instances", w, h.createInstance},
		{get, "/2/instances/:name", r, h.getInstance},
		{del, "/2/instances/:name", w, h.deleteInstance},
		{put, "/2/instances/:name/startup", w, h.startupInstance},
		{put, "/2/instances/:name/shutdown", w, h.shutdownInstance},
		{post, "/2/instances/:name/reboot", w, h.rebootInstance},
		{post, "/2/instances/:name/reinstall", w, h.reinstallInstance},
		{put, "/2/instances/:name/rename", w, h.renameInstance},
		{post, "/2/instances/:name/disk/:disk/grow", w, h.growDisk},
		{put, "/2/instances/:name/migrate", w, h.migrateInstance},
		{put, "/2/instances/:name/failover", w, h.failoverInstance},
		{put, "/2/instances/:name/activate-disks", w, h.activateDisks},
		{put, "/2/instances/:name/deactivate-disks", w, h.deactivateDisks},
		{post, "/2/instances/:name/replace-disks", w, h.replaceDisks},
		{get, "/2/instances/:name/tags", r, h.getTags(tagInstance)},
		{put, "/2/instances/:name/tags", w, h.addTags(tagInstance)},
		{del, "/2/instances/:name/tags", w, h.deleteTags(tagInstance)},

		{get, "/2/jobs", r, h.listJobs},
		{get, "/2/jobs/:id", r, h.getJob},
		{del, "/2/jobs/:id", w, h.cancelJob},
		// Blocking and revealing: write access, as in Ganeti.
		{get, "/2/jobs/:id/wait", w, h.waitJob},
	}
}

// Register implements api.Mount.
func (h *Mount) Register(e *gin.Engine) {
	for _, r := range h.routes() {
		e.Handle(r.method, r.path, h.readBody, h.authenticate(r.access), r.h)
	}
}

// readBody reads the whole request body (at most the server's body limit)
// before anything answers: Ganeti's client sends bodies even with DELETE,
// and an answer before the body was read resets the HTTP/2 stream, which
// curl reports as an error.
func (h *Mount) readBody(c *gin.Context) {
	if c.Request.Body == nil || c.Request.Body == http.NoBody {
		c.Next()
		return
	}
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		h.fail(c, wrongInput("read request body: %v", err))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(b))
	c.Next()
}

// NoRoute implements api.Mount: unknown paths under /2/ get Ganeti's 404 or
// 501 (a known path with an unsupported method).
func (h *Mount) NoRoute(c *gin.Context) bool {
	p := c.Request.URL.Path
	if p != "/version" && p != "/2" && !strings.HasPrefix(p, "/2/") {
		return false
	}
	for _, r := range h.routes() {
		if matchPath(r.path, p) {
			failStatus(c, http.StatusNotImplemented, "Method "+c.Request.Method+" is unsupported for path "+p, "")
			return true
		}
	}
	failStatus(c, http.StatusNotFound, "Nothing matches the given URI", string(api.CodeUnknownEntity))
	return true
}

// matchPath matches a gin pattern with :params against a path.
func matchPath(pattern, path string) bool {
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], ":") && ps[i] != qs[i] {
			return false
		}
	}
	return true
}

// ok answers 200 with v as JSON (every RAPI success is 200).
func ok(c *gin.Context, v any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, v)
}

func (h *Mount) getVersion(c *gin.Context) { ok(c, Version) }

func (h *Mount) getRoot(c *gin.Context) { ok(c, nil) }

// Features are the optional request and result formats supported.
var Features = []string{"instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1", "node-evac-res1"}

func (h *Mount) getFeatures(c *gin.Context) { ok(c, Features) }

// unsupported answers 501 for what drover does not do yet.
func (h *Mount) unsupported(what string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h.fail(c, notImplemented("%s is not supported by drover yet (no DRBD or live migration; disk templates file, diskless); see docs/rapi.md", what))
	}
}
