package apitest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
)

// Harness is a Backend served by api.NewServer on a local httptest server,
// with an admin user and a client for it. Everything stops at test cleanup.
type Harness struct {
	Backend *Backend
	Server  *httptest.Server
	// Handler is the http.Handler made by api.NewServer.
	Handler http.Handler
	// URL is the server's base URL (http://127.0.0.1:port).
	URL string
	// AdminToken is a token of user "admin" (role admin).
	AdminToken string
	// Client talks to URL with AdminToken.
	Client *api.Client
}

// Start starts a Harness for t. log may be nil (logs are then discarded).
func Start(t testing.TB, log *slog.Logger, opts ...Option) *Harness {
	t.Helper()
	b, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := api.NewServer(b, b.Verifier(), log)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		b.Close()
	})
	tok, err := b.Token("admin", api.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient([]string{srv.URL}, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Harness{Backend: b, Server: srv, Handler: h, URL: srv.URL, AdminToken: tok, Client: c}
}

// Token returns a new token for user with role (the user is made if missing).
func (h *Harness) Token(t testing.TB, user, role string) string {
	t.Helper()
	tok, err := h.Backend.Token(user, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ClientFor returns a client of the harness's server using token.
func (h *Harness) ClientFor(t testing.TB, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient([]string{h.URL}, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
