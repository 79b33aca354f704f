package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// ListUsers calls GET /users.
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var users []User
	if err := c.do(ctx, request{method: http.MethodGet, path: "/users", out: &users}); err != nil {
		return nil, err
	}
	return users, nil
}

// AddUser calls POST /users.
func (c *Client) AddUser(ctx context.Context, u UserAdd) (*User, error) {
	var out User
	if err := c.do(ctx, request{method: http.MethodPost, path: "/users", body: u, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveUser calls DELETE /users/{name}.
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/users/" + url.PathEscape(name)})
}

// IssueToken calls POST /users/{name}/tokens; ttl 0 means the server's
// default (24h). The answer holds the signed token, shown only this once.
func (c *Client) IssueToken(ctx context.Context, user string, ttl time.Duration) (*Token, error) {
	var req TokenRequest
	if ttl != 0 {
		req.TTL = ttl.String()
	}
	var t Token
	if err := c.do(ctx, request{method: http.MethodPost, path: "/users/" + url.PathEscape(user) + "/tokens", body: req, out: &t}); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTokens calls GET /users/{name}/tokens (without the secrets).
func (c *Client) ListTokens(ctx context.Context, user string) ([]Token, error) {
	var toks []Token
	if err := c.do(ctx, request{method: http.MethodGet, path: "/users/" + url.PathEscape(user) + "/tokens", out: &toks}); err != nil {
		return nil, err
	}
	return toks, nil
}

// RevokeToken calls DELETE /tokens/{id}.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/tokens/" + url.PathEscape(id)})
}

// SetPassword calls PUT /users/{name}/password: the user's password for the
// Ganeti RAPI (HTTP Basic).
func (c *Client) SetPassword(ctx context.Context, user, password string) error {
	return c.do(ctx, request{method: http.MethodPut, path: "/users/" + url.PathEscape(user) + "/password", body: PasswordSet{Password: password}})
}
