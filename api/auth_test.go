package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/api/apitest"
)

// claimsFor returns valid claims for the token record of user's first token.
func claimsFor(t *testing.T, f *fixture, user string) api.TokenClaims {
	t.Helper()
	toks, err := f.b.ListTokens(context.Background(), user)
	if err != nil || len(toks) == 0 {
		t.Fatalf("tokens of %s: %v", user, err)
	}
	now := time.Now()
	return api.TokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    apitest.Issuer,
			Subject:   user,
			Audience:  jwt.ClaimStrings{apitest.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        toks[0].ID,
		},
		Role: toks[0].Role,
	}
}

func sign(t *testing.T, m jwt.SigningMethod, c jwt.Claims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthRefusals(t *testing.T) {
	f := newFixture(t)
	key := f.b.PrivateKey()
	ctx := context.Background()

	// The reference: a forged-by-us but correct token is accepted.
	good := sign(t, jwt.SigningMethodEdDSA, claimsFor(t, f, "admin"), key)
	if rec := f.doString("GET", "/api/v1/cluster", good, ""); rec.Code != 200 {
		t.Fatalf("correct token refused: %d %s", rec.Code, rec.Body.String())
	}

	// Tampered: the reader's token with its payload changed to role admin.
	parts := strings.Split(f.reader, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m["role"] = api.RoleAdmin
	np, _ := json.Marshal(m)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(np) + "." + parts[2]
	sigFlipped := parts[0] + "." + parts[1] + "." + flipLast(parts[2])

	noneTok := sign(t, jwt.SigningMethodNone, claimsFor(t, f, "admin"), jwt.UnsafeAllowNoneSignatureType)
	hsTok := sign(t, jwt.SigningMethodHS256, claimsFor(t, f, "admin"), []byte(f.b.PublicKey()))
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	esTok := sign(t, jwt.SigningMethodES256, claimsFor(t, f, "admin"), ecKey)
	_, otherKey, _ := api.GenerateSigningKey()
	otherKeyTok := sign(t, jwt.SigningMethodEdDSA, claimsFor(t, f, "admin"), otherKey)

	expired := claimsFor(t, f, "admin")
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
	noExp := claimsFor(t, f, "admin")
	noExp.ExpiresAt = nil
	notYet := claimsFor(t, f, "admin")
	notYet.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour))
	wrongIss := claimsFor(t, f, "admin")
	wrongIss.Issuer = "drover:other"
	wrongAud := claimsFor(t, f, "admin")
	wrongAud.Audience = jwt.ClaimStrings{"kubernetes"}
	noAud := claimsFor(t, f, "admin")
	noAud.Audience = nil
	badRole := claimsFor(t, f, "admin")
	badRole.Role = "root"
	unknownJTI := claimsFor(t, f, "admin")
	unknownJTI.ID = "never-issued"
	otherSub := claimsFor(t, f, "reader") // reader's jti, admin's subject and role
	otherSub.Subject, otherSub.Role = "admin", api.RoleAdmin

	// Revoked token and token of a removed user.
	revoked, err := f.b.Token("revokee", api.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := f.b.ListTokens(ctx, "revokee")
	if rec := f.doString("DELETE", "/api/v1/tokens/"+rt[0].ID, f.admin, ""); rec.Code != 204 {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body.String())
	}
	removed, err := f.b.Token("leaver", api.RoleAdmin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if rec := f.doString("DELETE", "/api/v1/users/leaver", f.admin, ""); rec.Code != 204 {
		t.Fatalf("remove user: %d %s", rec.Code, rec.Body.String())
	}
	// A new user of the same name does not bring the old token back.
	if _, err := f.b.AddUser(ctx, api.UserAdd{Name: "leaver", Role: api.RoleAdmin}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, header string
	}{
		{"missing token", ""},
		{"not bearer", "Basic YWRtaW46YWRtaW4="},
		{"empty bearer", "Bearer "},
		{"garbage", "Bearer not.a.jwt"},
		{"tampered payload", "Bearer " + tampered},
		{"tampered signature", "Bearer " + sigFlipped},
		{"alg none", "Bearer " + noneTok},
		{"HS256 with public key", "Bearer " + hsTok},
		{"ES256 other key", "Bearer " + esTok},
		{"EdDSA other key", "Bearer " + otherKeyTok},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodEdDSA, expired, key)},
		{"no exp", "Bearer " + sign(t, jwt.SigningMethodEdDSA, noExp, key)},
		{"not yet valid", "Bearer " + sign(t, jwt.SigningMethodEdDSA, notYet, key)},
		{"wrong issuer", "Bearer " + sign(t, jwt.SigningMethodEdDSA, wrongIss, key)},
		{"wrong audience", "Bearer " + sign(t, jwt.SigningMethodEdDSA, wrongAud, key)},
		{"no audience", "Bearer " + sign(t, jwt.SigningMethodEdDSA, noAud, key)},
		{"unknown role", "Bearer " + sign(t, jwt.SigningMethodEdDSA, badRole, key)},
		{"jti never issued", "Bearer " + sign(t, jwt.SigningMethodEdDSA, unknownJTI, key)},
		{"jti of another user", "Bearer " + sign(t, jwt.SigningMethodEdDSA, otherSub, key)},
		{"revoked", "Bearer " + revoked},
		{"removed user", "Bearer " + removed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range [][2]string{{"GET", "/api/v1/cluster"}, {"POST", "/api/v1/debug/delay"}, {"GET", "/api/v1/users"}} {
				req := newReq(r[0], r[1], `{"duration":"0s"}`)
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				rec := serve(f.h, req)
				if rec.Code != 401 {
					t.Fatalf("%s %s: status %d, want 401: %s", r[0], r[1], rec.Code, rec.Body.String())
				}
				if e := errorOf(t, rec); e.Code != api.CodeUnauthorized {
					t.Fatalf("code %s", e.Code)
				}
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Fatalf("no WWW-Authenticate header")
				}
			}
		})
	}
	if jobs, _ := f.b.ListJobs(ctx, api.JobFilter{}); len(jobs) != 0 {
		t.Fatalf("refused tokens made %d jobs", len(jobs))
	}
}

func flipLast(s string) string {
	b := []byte(s)
	// Change a middle character: the last one may only carry padding bits.
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	nodeTok, err := f.b.Token("agent1", api.RoleNode, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body string
		read, operate, admin     int // expected status per role (not 403 means allowed)
	}{
		{"cluster info", "GET", "/api/v1/cluster", "", 200, 200, 200},
		{"verify", "POST", "/api/v1/cluster/verify", "", 200, 200, 200},
		{"list nodes", "GET", "/api/v1/nodes", "", 200, 200, 200},
		{"list jobs", "GET", "/api/v1/jobs", "", 200, 200, 200},
		{"delay", "POST", "/api/v1/debug/delay", `{"duration":"0s"}`, 403, 202, 202},
		{"submit", "POST", "/api/v1/jobs", `{"ops":[{"kind":"debug.delay","params":{"duration":"0s"}}]}`, 403, 202, 202},
		{"cancel", "DELETE", "/api/v1/jobs/999", "", 403, 404, 404},
		{"modify node", "PATCH", "/api/v1/nodes/n9", `{"drained":true}`, 403, 404, 404},
		{"add node", "POST", "/api/v1/nodes", `{"name":"n1"}`, 403, 403, 202},
		{"remove node", "DELETE", "/api/v1/nodes/n9", "", 403, 403, 404},
		{"credentials", "POST", "/api/v1/nodes/n9/credentials", "", 403, 403, 404},
		{"list users", "GET", "/api/v1/users", "", 403, 403, 200},
		{"add user", "POST", "/api/v1/users", `{"name":"x1","role":"read"}`, 403, 403, 201},
		{"remove user", "DELETE", "/api/v1/users/ghost", "", 403, 403, 404},
		{"issue token", "POST", "/api/v1/users/reader/tokens", `{"ttl":"1h"}`, 403, 403, 201},
		{"list tokens", "GET", "/api/v1/users/reader/tokens", "", 403, 403, 200},
		{"revoke other's token", "DELETE", "/api/v1/tokens/nope", "", 403, 403, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				tok  string
				want int
			}{{f.reader, tt.read}, {f.operate, tt.operate}, {f.admin, tt.admin}, {nodeTok, 403}} {
				rec := f.doString(tt.method, tt.path, c.tok, tt.body)
				if rec.Code != c.want {
					t.Fatalf("status %d, want %d: %s", rec.Code, c.want, rec.Body.String())
				}
				if c.want == 403 && errorOf(t, rec).Code != api.CodeForbidden {
					t.Fatalf("403 without forbidden code")
				}
			}
		})
	}
}

func TestRevokeOwnToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	second, err := f.b.Token("reader", api.RoleRead, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := f.b.ListTokens(ctx, "reader")
	if len(toks) != 2 {
		t.Fatalf("tokens %v", toks)
	}
	p, err := f.b.Verifier().Verify(second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A reader may not revoke the operator's token...
	ot, _ := f.b.ListTokens(ctx, "op")
	rec := f.doString("DELETE", "/api/v1/tokens/"+ot[0].ID, f.reader, "")
	if rec.Code != 403 {
		t.Fatalf("other's revoke: %d %s", rec.Code, rec.Body.String())
	}
	// ... but may revoke its own (here the second, with the first).
	rec = f.doString("DELETE", "/api/v1/tokens/"+p.TokenID, f.reader, "")
	if rec.Code != 204 {
		t.Fatalf("own revoke: %d %s", rec.Code, rec.Body.String())
	}
	// Once revoked, that token is refused; the other still works.
	if c := f.doString("GET", "/api/v1/cluster", second, "").Code; c != 401 {
		t.Fatalf("revoked token: %d", c)
	}
	if c := f.doString("GET", "/api/v1/cluster", f.reader, "").Code; c != 200 {
		t.Fatalf("other token: %d", c)
	}
}
