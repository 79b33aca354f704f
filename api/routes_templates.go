package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// templateImportPath is the one route whose body may exceed MaxBodyBytes.
const templateImportPath = APIPrefix + "/templates/:name/import"

// templateRoutes are the routes under /templates. The blob route is for
// agents (role node) as well as users with read.
func (s *server) templateRoutes() []route {
	return []route{
		{http.MethodGet, "/templates", RoleRead, s.listTemplates},
		{http.MethodPost, "/templates", RoleOperate, s.buildTemplate},
		{http.MethodGet, "/templates/:name", RoleRead, s.getTemplate},
		{http.MethodDelete, "/templates/:name", RoleOperate, s.removeTemplate},
		{http.MethodPost, "/templates/:name/import", RoleOperate, s.importTemplate},
		{http.MethodGet, "/templates/blobs/:digest", RoleNode, s.templateBlob},
	}
}

// limitBodyRoute applies limitBody, except that the template import route
// gets MaxTemplateBytes.
func (s *server) limitBodyRoute(c *gin.Context) {
	if c.FullPath() != templateImportPath {
		s.limitBody(c)
		return
	}
	if c.Request.ContentLength > MaxTemplateBytes {
		s.failStatus(c, http.StatusRequestEntityTooLarge,
			Errorf(CodeWrongInput, "template larger than %d bytes", int64(MaxTemplateBytes)))
		return
	}
	if c.Request.Body != nil && c.Request.Body != http.NoBody {
		c.Request.Body = &limitedBody{rc: http.MaxBytesReader(c.Writer, c.Request.Body, MaxTemplateBytes)}
	}
	c.Next()
}

// authenticateNode admits tokens of role node (checked by the
// InstanceBackend: not revoked, node exists) and of any user role.
func (s *server) authenticateNode(c *gin.Context) {
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
	if p.Role == RoleNode {
		ib, ok := s.b.(InstanceBackend)
		if !ok {
			s.fail(c, Errorf(CodeUnauthorized, "node tokens are not accepted by this master"))
			return
		}
		err = ib.CheckNodeToken(c.Request.Context(), p)
	} else {
		err = s.b.CheckToken(c.Request.Context(), p)
	}
	if err != nil {
		if CodeOf(err) == CodeUnauthorized {
			c.Header("WWW-Authenticate", `Bearer realm="drover", error="invalid_token"`)
		}
		s.fail(c, fmt.Errorf("check token: %w", err))
		return
	}
	c.Set(principalKey, p)
	if p.Role != RoleNode && !RoleAllows(p.Role, RoleRead) {
		s.fail(c, Errorf(CodeForbidden, "role %s may not read templates", p.Role))
		return
	}
	c.Next()
}

func (s *server) listTemplates(c *gin.Context) {
	ib := s.instanceBackend(c)
	if ib == nil {
		return
	}
	ts, err := ib.ListTemplates(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	if ts == nil {
		ts = []Template{}
	}
	s.ok(c, http.StatusOK, ts)
}

// templateRef reads :name, which may be "name@version".
func (s *server) templateRef(c *gin.Context) (string, bool) {
	ref := c.Param("name")
	if err := validTemplateRef(ref); err != nil {
		s.fail(c, err)
		return "", false
	}
	return ref, true
}

func (s *server) getTemplate(c *gin.Context) {
	ref, ok := s.templateRef(c)
	if !ok {
		return
	}
	ib := s.instanceBackend(c)
	if ib == nil {
		return
	}
	t, err := ib.GetTemplate(c.Request.Context(), ref)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusOK, t)
}

func (s *server) buildTemplate(c *gin.Context) {
	var req TemplateBuild
	if err := s.bind(c, &req); err != nil {
		s.failBind(c, err)
		return
	}
	s.submitOp(c, OpTemplateBuild, req)
}

// removeTemplate answers DELETE /templates/{name} (every version) or
// DELETE /templates/{name}@{version}.
func (s *server) removeTemplate(c *gin.Context) {
	ref, ok := s.templateRef(c)
	if !ok {
		return
	}
	r := TemplateRemove{Name: ref}
	if name, v, has := strings.Cut(ref, "@"); has {
		r.Name = name
		r.Version, _ = strconv.Atoi(v)
	}
	s.submitOp(c, OpTemplateRemove, r)
}

// importTemplate answers POST /templates/{name}/import: the body is the
// tarball (zstd, gzip or plain tar). Synchronous: 201 with the Template.
func (s *server) importTemplate(c *gin.Context) {
	name := c.Param("name")
	if !ValidTemplateName(name) {
		s.fail(c, Errorf(CodeWrongInput, "template name %s: want ^[a-z0-9][a-z0-9._-]{0,62}$", quoteShort(name)))
		return
	}
	ib := s.instanceBackend(c)
	if ib == nil {
		return
	}
	if c.Request.Body == nil || c.Request.Body == http.NoBody || c.Request.ContentLength == 0 {
		s.fail(c, Errorf(CodeWrongInput, "the body must be the template tarball"))
		return
	}
	p, _ := principalOf(c)
	t, err := ib.ImportTemplate(c.Request.Context(), p, name, c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.failStatus(c, http.StatusRequestEntityTooLarge, Errorf(CodeWrongInput, "template larger than %d bytes", mbe.Limit))
			return
		}
		s.fail(c, err)
		return
	}
	s.ok(c, http.StatusCreated, t)
}

// templateBlob answers GET /templates/blobs/{digest} with the artifact;
// X-Drover-Sha256 announces its sha256 (the reader must still check it).
func (s *server) templateBlob(c *gin.Context) {
	d := c.Param("digest")
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		s.fail(c, Errorf(CodeWrongInput, "digest %s: want sha256:<64 hex digits>", quoteShort(d)))
		return
	}
	ib := s.instanceBackend(c)
	if ib == nil {
		return
	}
	rc, size, err := ib.OpenTemplateBlob(c.Request.Context(), "sha256:"+h)
	if err != nil {
		s.fail(c, err)
		return
	}
	defer rc.Close()
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Length", strconv.FormatInt(size, 10))
	c.Header("X-Drover-Sha256", h)
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, rc); err != nil {
		s.log.Warn("template blob send failed", "digest", h, "err", err)
	}
}
