package master

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// tokenCache mirrors users/ and tokens/ in memory, fed by an etcd watch, so
// that CheckToken costs a map lookup. A miss falls back to an etcd read (a
// token issued on another master a moment ago).
type tokenCache struct {
	c   *clientv3.Client
	log *slog.Logger

	mu     sync.RWMutex
	users  map[string]keys.UserRecord
	tokens map[string]keys.TokenRecord
	rev    int64
	// changed is closed and replaced whenever rev moves.
	changed chan struct{}
}

func newTokenCache(c *clientv3.Client, log *slog.Logger) *tokenCache {
	return &tokenCache{c: c, log: log, changed: make(chan struct{})}
}

// load reads both prefixes at one revision.
func (t *tokenCache) load(ctx context.Context) error {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	tr, err := t.c.Get(tctx, keys.TokensPrefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	ur, err := t.c.Get(tctx, keys.UsersPrefix, clientv3.WithPrefix(), clientv3.WithRev(tr.Header.Revision))
	if err != nil {
		return err
	}
	users, tokens := map[string]keys.UserRecord{}, map[string]keys.TokenRecord{}
	for _, kv := range ur.Kvs {
		var u keys.UserRecord
		if json.Unmarshal(kv.Value, &u) == nil {
			users[u.Name] = u
		}
	}
	for _, kv := range tr.Kvs {
		var r keys.TokenRecord
		if json.Unmarshal(kv.Value, &r) == nil {
			tokens[r.ID] = r
		}
	}
	t.mu.Lock()
	t.users, t.tokens, t.rev = users, tokens, tr.Header.Revision
	t.notifyLocked()
	t.mu.Unlock()
	return nil
}

// run follows changes until ctx ends, reloading when a watch breaks.
func (t *tokenCache) run(ctx context.Context) {
	for ctx.Err() == nil {
		t.mu.RLock()
		rev := t.rev
		t.mu.RUnlock()
		t.follow(ctx, rev)
		if ctx.Err() != nil {
			return
		}
		if err := t.load(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("token_cache_reload_failed", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// follow applies the changes after rev until a watch breaks or ctx ends. One
// watch over users/ and tokens/ would carry every job change; two small ones.
func (t *tokenCache) follow(ctx context.Context, rev int64) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	uw := t.c.Watch(wctx, keys.UsersPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	tw := t.c.Watch(wctx, keys.TokensPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		var wr clientv3.WatchResponse
		var ok bool
		select {
		case <-ctx.Done():
			return
		case wr, ok = <-uw:
		case wr, ok = <-tw:
		}
		if !ok || wr.Err() != nil {
			return
		}
		t.apply(wr.Events)
	}
}

// waitFor waits (briefly) until the cache has seen revision rev, so that a
// master answers its own writes (revocation, removal) at once.
func (t *tokenCache) waitFor(ctx context.Context, rev int64) {
	timer := time.NewTimer(2 * time.Second)
	defer timer.Stop()
	for {
		t.mu.RLock()
		seen, ch := t.rev, t.changed
		t.mu.RUnlock()
		if seen >= rev {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

func (t *tokenCache) apply(evs []*clientv3.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		k := string(ev.Kv.Key)
		if n := keys.NameFromKey(keys.UsersPrefix, k); n != "" {
			var u keys.UserRecord
			if ev.Type == clientv3.EventTypeDelete || json.Unmarshal(ev.Kv.Value, &u) != nil {
				delete(t.users, n)
			} else {
				t.users[n] = u
			}
		} else if id := keys.NameFromKey(keys.TokensPrefix, k); id != "" {
			var r keys.TokenRecord
			if ev.Type == clientv3.EventTypeDelete || json.Unmarshal(ev.Kv.Value, &r) != nil {
				delete(t.tokens, id)
			} else {
				t.tokens[id] = r
			}
		}
		t.rev = max(t.rev, ev.Kv.ModRevision)
	}
	t.notifyLocked()
}

func (t *tokenCache) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

var errTokenRefused = api.Errorf(api.CodeUnauthorized, "token revoked or user removed")

// check refuses revoked or unknown tokens and tokens of removed users.
func (t *tokenCache) check(ctx context.Context, p api.Principal) error {
	t.mu.RLock()
	r, okT := t.tokens[p.TokenID]
	_, okU := t.users[p.User]
	t.mu.RUnlock()
	if !okT || !okU {
		// Maybe issued on another master a moment ago: read etcd.
		var err error
		if !okT {
			if _, err = store.GetJSON(ctx, t.c, keys.TokenKey(p.TokenID), &r); err != nil {
				return refuse(err)
			}
		}
		var u keys.UserRecord
		if _, err = store.GetJSON(ctx, t.c, keys.UserKey(p.User), &u); err != nil {
			return refuse(err)
		}
	}
	if r.Revoked || r.User != p.User || r.Role != p.Role {
		return errTokenRefused
	}
	return nil
}

func refuse(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errTokenRefused
	}
	return api.Errorf(api.CodeUnavailable, "cannot check token: %v", err)
}
