package ui

import (
	"embed"
	"net/http"
	"path"

	"github.com/gin-gonic/gin"
)

//go:embed assets
var assets embed.FS

// contentTypes of the assets, by extension.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// csp allows nothing but the master itself: no inline script, no outside
// origin, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(c *gin.Context) {
	c.Header("Content-Security-Policy", csp)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("X-Frame-Options", "DENY")
	c.Header("Cache-Control", "no-cache")
}

// index serves the page (login form and dashboard; app.js picks one).
func (m *Mount) index(c *gin.Context) { serveAsset(c, "index.html") }

// asset serves /ui/assets/NAME.
func (m *Mount) asset(c *gin.Context) { serveAsset(c, c.Param("file")) }

func serveAsset(c *gin.Context, name string) {
	ct, known := contentTypes[path.Ext(name)]
	b, err := assets.ReadFile("assets/" + name)
	if !known || err != nil || path.Base(name) != name {
		c.Header("Cache-Control", "no-store")
		c.Data(http.StatusNotFound, "text/plain; charset=utf-8", []byte("not found\n"))
		return
	}
	securityHeaders(c)
	c.Data(http.StatusOK, ct, b)
}
