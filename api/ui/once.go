package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/drover-project/drover/api"
)

// OnceTTL is how long a one-time login link is good for.
const OnceTTL = 2 * time.Minute

// maxOnceCodes caps the codes outstanding on one master.
const maxOnceCodes = 1000

// LoginLink is the answer of POST /ui/api/login-links.
type LoginLink struct {
	// Path is the link's path and query, to append to the master's URL.
	Path      string    `json:"path"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
}

// onceCodes are the one-time login codes of this master, in memory: a code
// is redeemed on the master that issued it (`drover ui` prints that
// master's URL), once, before it expires. Only a hash of each is kept.
type onceCodes struct {
	ttl   time.Duration
	mu    sync.Mutex
	codes map[[32]byte]onceCode
}

type onceCode struct {
	user    string
	expires time.Time
}

func newOnceCodes(ttl time.Duration) *onceCodes {
	return &onceCodes{ttl: ttl, codes: map[[32]byte]onceCode{}}
}

// issue makes a code for user.
func (o *onceCodes) issue(user string) (string, time.Time, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	code := base64.RawURLEncoding.EncodeToString(b[:])
	t := now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.expireLocked(t)
	if len(o.codes) >= maxOnceCodes {
		return "", time.Time{}, api.Errorf(api.CodeUnavailable, "too many login links outstanding; retry in %v", o.ttl)
	}
	exp := t.Add(o.ttl)
	o.codes[sha256.Sum256([]byte(code))] = onceCode{user: user, expires: exp}
	return code, exp, nil
}

// redeem returns the user of code and forgets the code; false when the
// code is unknown, used or expired.
func (o *onceCodes) redeem(code string) (string, bool) {
	h := sha256.Sum256([]byte(code))
	t := now()
	o.mu.Lock()
	defer o.mu.Unlock()
	c, found := o.codes[h]
	delete(o.codes, h)
	o.expireLocked(t)
	if !found || !t.Before(c.expires) {
		return "", false
	}
	return c.user, true
}

func (o *onceCodes) expireLocked(t time.Time) {
	for h, c := range o.codes {
		if !t.Before(c.expires) {
			delete(o.codes, h)
		}
	}
}

// issueOnce answers POST /ui/api/login-links for the bearer token's user.
func (m *Mount) issueOnce(c *gin.Context) {
	tok, err := bearer(c.Request)
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="drover"`)
		m.fail(c, err)
		return
	}
	p, err := m.checkToken(c, tok)
	if err != nil {
		m.fail(c, err)
		return
	}
	code, exp, err := m.once.issue(p.User)
	if err != nil {
		m.fail(c, err)
		return
	}
	m.log.Info("ui login link issued", "user", p.User, "expires", exp)
	ok(c, LoginLink{Path: OncePath + "?once=" + url.QueryEscape(code), User: p.User, ExpiresAt: exp.UTC()})
}

// redeemOnce answers GET /ui/login?once=CODE: a session cookie and a
// redirect to the dashboard, or 401.
func (m *Mount) redeemOnce(c *gin.Context) {
	user, found := m.once.redeem(c.Query("once"))
	if !found {
		m.log.Info("ui login link refused", "remote", c.ClientIP())
		c.Header("Cache-Control", "no-store")
		c.Data(http.StatusUnauthorized, "text/plain; charset=utf-8",
			[]byte("This login link is unknown, used or expired. Run `drover ui` again for a new one.\n"))
		return
	}
	if _, err := m.startSession(c, user); err != nil {
		m.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, Prefix+"/")
}

// bearer extracts an "Authorization: Bearer" token.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Values("Authorization")
	if len(h) == 1 {
		if scheme, tok, found := strings.Cut(h[0], " "); found && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) != "" {
			return strings.TrimSpace(tok), nil
		}
	}
	return "", api.Errorf(api.CodeUnauthorized, "need one Authorization: Bearer <token> header")
}
