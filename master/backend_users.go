package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Token lifetimes.
const (
	DefaultTokenTTL = 24 * time.Hour
	MaxTokenTTL     = 8760 * time.Hour
)

// ListUsers implements api.Backend.
func (m *Master) ListUsers(ctx context.Context) ([]api.User, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.UsersPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("list users", err)
	}
	out := make([]api.User, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var u keys.UserRecord
		if err := json.Unmarshal(kv.Value, &u); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, api.User{Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt})
	}
	return out, nil
}

// AddUser implements api.Backend.
func (m *Master) AddUser(ctx context.Context, u api.UserAdd) (*api.User, error) {
	// Not a node agent's identity ("node.<name>"), which CheckNodeToken
	// and the template routes trust.
	if err := api.ValidUserName(u.Name); err != nil {
		return nil, err
	}
	switch u.Role {
	case api.RoleRead, api.RoleOperate, api.RoleAdmin:
	default:
		return nil, api.Errorf(api.CodeWrongInput, "role %q: want read, operate or admin", u.Role)
	}
	rec := keys.UserRecord{Name: u.Name, Role: u.Role, CreatedAt: time.Now().UTC()}
	ok, err := store.CreateJSON(ctx, m.client, keys.UserKey(u.Name), rec)
	if err != nil {
		return nil, unavailable("add user", err)
	}
	if !ok {
		return nil, api.Errorf(api.CodeAlreadyExists, "user %q already exists", u.Name)
	}
	return &api.User{Name: rec.Name, Role: rec.Role, CreatedAt: rec.CreatedAt}, nil
}

// RemoveUser implements api.Backend; the user's tokens stop working at once.
// The last admin cannot be removed.
func (m *Master) RemoveUser(ctx context.Context, name string) error {
	users, err := m.ListUsers(ctx)
	if err != nil {
		return err
	}
	admins, found := 0, false
	var rev int64
	for _, u := range users {
		if u.Role == api.RoleAdmin {
			admins++
		}
		if u.Name == name {
			found = true
		}
	}
	if !found {
		return api.Errorf(api.CodeUnknownEntity, "user %q not found", name)
	}
	var u keys.UserRecord
	if rev, err = store.GetJSON(ctx, m.client, keys.UserKey(name), &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return api.Errorf(api.CodeUnknownEntity, "user %q not found", name)
		}
		return unavailable("read user", err)
	}
	if u.Role == api.RoleAdmin && admins <= 1 {
		return api.Errorf(api.CodeWrongState, "user %q is the last admin", name)
	}
	// The user's tokens go with the user, in the same transaction, so a user
	// added again under the same name does not inherit the old tokens.
	ops := []clientv3.Op{clientv3.OpDelete(keys.UserKey(name))}
	toks, err := m.ListTokens(ctx, name)
	if err != nil {
		return err
	}
	for _, t := range toks {
		ops = append(ops, clientv3.OpDelete(keys.TokenKey(t.ID)))
	}
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Txn(tctx).If(store.Unchanged(keys.UserKey(name), rev)).
		Then(ops...).Commit()
	if err != nil {
		return unavailable("remove user", err)
	}
	if !resp.Succeeded {
		return api.Errorf(api.CodeWrongState, "user %q changed meanwhile; retry", name)
	}
	m.tokens.waitFor(ctx, resp.Header.Revision)
	return nil
}

// IssueToken implements api.Backend.
func (m *Master) IssueToken(ctx context.Context, user string, ttl time.Duration) (*api.Token, error) {
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < time.Minute || ttl > MaxTokenTTL {
		return nil, api.Errorf(api.CodeWrongInput, "token TTL %v not in 1m..%v", ttl, MaxTokenTTL)
	}
	var u keys.UserRecord
	if _, err := store.GetJSON(ctx, m.client, keys.UserKey(user), &u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, api.Errorf(api.CodeUnknownEntity, "user %q not found", user)
		}
		return nil, unavailable("read user", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	rec := keys.TokenRecord{ID: newTokenID(), User: u.Name, Role: u.Role, IssuedAt: now, ExpiresAt: now.Add(ttl)}
	tok, err := m.signer.Sign(rec.User, rec.Role, rec.ID, rec.IssuedAt, rec.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("sign token: %w", err)
	}
	put, err := store.PutJSON(keys.TokenKey(rec.ID), rec)
	if err != nil {
		return nil, err
	}
	// The user must still exist when the token is recorded.
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Txn(tctx).
		If(clientv3.Compare(clientv3.CreateRevision(keys.UserKey(user)), ">", 0)).Then(put).Commit()
	if err != nil {
		return nil, unavailable("record token", err)
	}
	if !resp.Succeeded {
		return nil, api.Errorf(api.CodeUnknownEntity, "user %q removed meanwhile", user)
	}
	m.tokens.waitFor(ctx, resp.Header.Revision)
	return &api.Token{ID: rec.ID, User: rec.User, Role: rec.Role, ExpiresAt: rec.ExpiresAt, Token: tok}, nil
}

// ListTokens implements api.Backend ("" lists every user's tokens).
func (m *Master) ListTokens(ctx context.Context, user string) ([]api.Token, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.TokensPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable("list tokens", err)
	}
	out := []api.Token{}
	for _, kv := range resp.Kvs {
		var r keys.TokenRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		if user == "" || r.User == user {
			out = append(out, api.Token{ID: r.ID, User: r.User, Role: r.Role, ExpiresAt: r.ExpiresAt, Revoked: r.Revoked})
		}
	}
	return out, nil
}

// RevokeToken implements api.Backend.
func (m *Master) RevokeToken(ctx context.Context, id string) error {
	for {
		var r keys.TokenRecord
		rev, err := store.GetJSON(ctx, m.client, keys.TokenKey(id), &r)
		if errors.Is(err, store.ErrNotFound) {
			return api.Errorf(api.CodeUnknownEntity, "token %q not found", id)
		}
		if err != nil {
			return unavailable("read token", err)
		}
		if r.Revoked {
			return nil
		}
		r.Revoked = true
		put, err := store.PutJSON(keys.TokenKey(id), r)
		if err != nil {
			return err
		}
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := m.client.Txn(tctx).If(store.Unchanged(keys.TokenKey(id), rev)).Then(put).Commit()
		cancel()
		if err != nil {
			return unavailable("revoke token", err)
		}
		if resp.Succeeded {
			m.tokens.waitFor(ctx, resp.Header.Revision)
			return nil
		}
	}
}
