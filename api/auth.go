package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenClaims are the claims of a drover bearer token.
type TokenClaims struct {
	jwt.RegisteredClaims
	// Role is read, operate, admin or node.
	Role string `json:"role"`
}

// Signer signs bearer tokens with the cluster's Ed25519 key (alg EdDSA).
type Signer struct {
	key      ed25519.PrivateKey
	issuer   string
	audience string
}

// NewSigner returns a signer for the given issuer and audience.
func NewSigner(key ed25519.PrivateKey, issuer, audience string) *Signer {
	return &Signer{key: key, issuer: issuer, audience: audience}
}

// Sign returns a compact JWT for user with role, token id and expiry.
func (s *Signer) Sign(user, role, id string, issuedAt, expires time.Time) (string, error) {
	if expires.IsZero() {
		return "", errors.New("auth: token without expiry")
	}
	c := TokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   user,
			Audience:  jwt.ClaimStrings{s.audience},
			ExpiresAt: jwt.NewNumericDate(expires),
			IssuedAt:  jwt.NewNumericDate(issuedAt),
			NotBefore: jwt.NewNumericDate(issuedAt.Add(-time.Minute)),
			ID:        id,
		},
		Role: role,
	}
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.key)
}

// Verifier checks bearer tokens: only EdDSA, exp required, issuer and audience
// checked, a known role and a token id present.
type Verifier struct {
	pub      ed25519.PublicKey
	issuer   string
	audience string
}

// NewVerifier returns a verifier for the given public key, issuer and audience.
func NewVerifier(pub ed25519.PublicKey, issuer, audience string) *Verifier {
	return &Verifier{pub: pub, issuer: issuer, audience: audience}
}

// Verify parses and checks token at time now. Every failure is an *Error with
// CodeUnauthorized.
func (v *Verifier) Verify(token string, now time.Time) (Principal, error) {
	var c TokenClaims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return v.pub, nil
	})
	if err != nil {
		return Principal{}, Errorf(CodeUnauthorized, "invalid token: %v", err)
	}
	switch c.Role {
	case RoleRead, RoleOperate, RoleAdmin, RoleNode:
	default:
		return Principal{}, Errorf(CodeUnauthorized, "invalid token: unknown role %q", c.Role)
	}
	if c.Subject == "" || c.ID == "" {
		return Principal{}, Errorf(CodeUnauthorized, "invalid token: missing sub or jti")
	}
	return Principal{User: c.Subject, Role: c.Role, TokenID: c.ID}, nil
}

// RoleAllows reports whether role may do something that needs role need
// (read < operate < admin; node grants nothing on the REST API).
func RoleAllows(role, need string) bool {
	rank := map[string]int{RoleRead: 1, RoleOperate: 2, RoleAdmin: 3}
	r, ok := rank[role]
	return ok && r >= rank[need]
}

// GenerateSigningKey makes a new Ed25519 key pair.
func GenerateSigningKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// MarshalPrivateKeyPEM encodes an Ed25519 private key as PKCS#8 PEM.
func MarshalPrivateKeyPEM(k ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes a PKCS#8 PEM Ed25519 private key.
func ParsePrivateKeyPEM(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("auth: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: parse key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("auth: not an Ed25519 key")
	}
	return ek, nil
}
