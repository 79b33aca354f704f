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
}

func newTokenCache(c *clientv3.Client, log *slog.Logger) *tokenCache {
	return &tokenCache{c: c, log: log}
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
	t.mu.Unlock()
	return nil
}

// run follows changes until ctx ends, reloading when a watch breaks.
func (t *tokenCache) run(ctx context.Context) {
	for ctx.Err() == nil {
		t.mu.RLock()
		rev := t.rev
		t.mu.RUnlock()
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		// One watch over users/ and tokens/ would include every job; two small ones.
		ch := mergeWatch(wctx,
			t.c.Watch(wctx, keys.UsersPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)),
			t.c.Watch(wctx, keys.TokensPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)))
		for wr := range ch {
			if wr.Err() != nil {
				break
			}
			t.apply(wr.Events)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err := t.load(ctx); err != nil {
			t.log.Warn("token_cache_reload_failed", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
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
}

// mergeWatch forwards two watch channels into one, ending when either ends.
func mergeWatch(ctx context.Context, a, b clientv3.WatchChan) <-chan clientv3.WatchResponse {
	out := make(chan clientv3.WatchResponse)
	fwd := func(in clientv3.WatchChan, done func()) {
		defer done()
		for wr := range in {
			select {
			case out <- wr:
			case <-ctx.Done():
				return
			}
			if wr.Err() != nil {
				return
			}
		}
	}
	var once sync.Once
	stop := make(chan struct{})
	closeOnce := func() { once.Do(func() { close(stop) }) }
	go fwd(a, closeOnce)
	go fwd(b, closeOnce)
	go func() {
		select {
		case <-stop:
		case <-ctx.Done():
		}
		// Tell the reader to stop; it cancels ctx, which ends both forwarders.
		select {
		case out <- clientv3.WatchResponse{Canceled: true, CompactRevision: 0}:
		case <-ctx.Done():
		}
		close(out)
	}()
	return out
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
