package master

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Master implements api.RAPIBackend.
var _ api.RAPIBackend = (*Master)(nil)

// DefaultPasswordCost is the bcrypt cost of stored RAPI passwords (about
// 0.2-0.3 s per hash or check on a loaded 2-core machine; verified
// passwords are cached). Config.PasswordCost overrides it (tests).
const DefaultPasswordCost = 11

func (m *Master) passwordCost() int {
	if m.cfg.PasswordCost != 0 {
		return m.cfg.PasswordCost
	}
	return DefaultPasswordCost
}

// verifiedTTL is how long a checked password is remembered, so that a RAPI
// client sending HTTP Basic on every request pays bcrypt once.
const (
	verifiedTTL = 5 * time.Minute
	verifiedMax = 1024
)

var errPasswordRefused = api.Errorf(api.CodeUnauthorized, "wrong user name or password")

// verifiedPasswords remembers sha256(user, password, stored hash) of
// passwords that matched; a changed hash never matches an old entry.
type verifiedPasswords struct {
	mu sync.Mutex
	m  map[[32]byte]time.Time
}

var passwordCache = &verifiedPasswords{m: map[[32]byte]time.Time{}}

func verifiedKey(user, password, hash string) [32]byte {
	return sha256.Sum256([]byte(user + "\x00" + password + "\x00" + hash))
}

func (v *verifiedPasswords) ok(k [32]byte, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	exp, found := v.m[k]
	return found && now.Before(exp)
}

func (v *verifiedPasswords) add(k [32]byte, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.m) >= verifiedMax {
		clear(v.m)
	}
	v.m[k] = now.Add(verifiedTTL)
}

// dummyHashes are bcrypt hashes, one per cost, checked against when there
// is no stored hash, so that refusing takes as long as a wrong password.
var dummyHashes sync.Map // cost -> []byte

func dummyHash(cost int) []byte {
	if h, ok := dummyHashes.Load(cost); ok {
		return h.([]byte)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("drover: no such user or password"), cost)
	if err != nil {
		return nil // only for a bad cost; the comparison then fails at once
	}
	dummyHashes.Store(cost, h)
	return h
}

// SetPassword implements api.RAPIBackend: the bcrypt hash goes into the user
// record, compared on its revision so a concurrent removal is not undone.
func (m *Master) SetPassword(ctx context.Context, user, password string) error {
	if err := (api.PasswordSet{Password: password}).Validate(); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), m.passwordCost())
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	var u keys.UserRecord
	rev, err := store.GetJSON(ctx, m.client, keys.UserKey(user), &u)
	if errors.Is(err, store.ErrNotFound) {
		return api.Errorf(api.CodeUnknownEntity, "user %q not found", user)
	}
	if err != nil {
		return unavailable("read user", err)
	}
	u.PasswordHash = string(hash)
	put, err := store.PutJSON(keys.UserKey(user), u)
	if err != nil {
		return err
	}
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Txn(tctx).If(store.Unchanged(keys.UserKey(user), rev)).Then(put).Commit()
	if err != nil {
		return unavailable("set password", err)
	}
	if !resp.Succeeded {
		return api.Errorf(api.CodeWrongState, "user %q changed meanwhile; retry", user)
	}
	m.tokens.waitFor(ctx, resp.Header.Revision)
	return nil
}

// CheckPassword implements api.RAPIBackend.
func (m *Master) CheckPassword(ctx context.Context, user, password string) (api.Principal, error) {
	m.tokens.mu.RLock()
	u, found := m.tokens.users[user]
	m.tokens.mu.RUnlock()
	if !found {
		// Maybe added on another master a moment ago.
		if _, err := store.GetJSON(ctx, m.client, keys.UserKey(user), &u); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				_ = bcrypt.CompareHashAndPassword(dummyHash(m.passwordCost()), []byte(password))
				return api.Principal{}, errPasswordRefused
			}
			return api.Principal{}, unavailable("read user", err)
		}
	}
	if u.PasswordHash == "" || len(password) > api.MaxPasswordLength {
		// As slow as a wrong password, so that timing does not tell which
		// users exist or have a password.
		_ = bcrypt.CompareHashAndPassword(dummyHash(m.passwordCost()), []byte(password))
		return api.Principal{}, errPasswordRefused
	}
	now := time.Now()
	k := verifiedKey(user, password, u.PasswordHash)
	if !passwordCache.ok(k, now) {
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
			return api.Principal{}, errPasswordRefused
		}
		passwordCache.add(k, now)
	}
	return api.Principal{User: u.Name, Role: u.Role}, nil
}

// RAPIAnonymousReads implements api.RAPIBackend.
func (m *Master) RAPIAnonymousReads() bool { return m.cfg.RAPIAnonymousReads }
