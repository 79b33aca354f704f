package master

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// bootstrap makes a fresh etcd a drover cluster: root user and role, auth on,
// cluster record, signing key, admin user and its token record. Every step is
// create-if-absent, so masters that start together may all run it.
func (m *Master) bootstrap(ctx context.Context, c *clientv3.Client, password string) error {
	if err := ensureAuth(ctx, c, password); err != nil {
		return err
	}
	jwtPEM, err := m.dir.readFile(m.dir.JWTKeyFile())
	if err != nil {
		return err
	}
	tctx, cancel := store.WithTimeout(ctx)
	_, err = c.Txn(tctx).If(store.Absent(keys.JWTKey)).Then(clientv3.OpPut(keys.JWTKey, string(jwtPEM))).Commit()
	cancel()
	if err != nil {
		return fmt.Errorf("bootstrap: signing key: %w", err)
	}
	if _, err := store.CreateJSON(ctx, c, keys.ClusterKey, m.dir.Cluster); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	_, tok, err := m.dir.AdminToken()
	if err != nil {
		return err
	}
	user := keys.UserRecord{Name: tok.User, Role: tok.Role, CreatedAt: m.dir.Cluster.CreatedAt}
	if _, err := store.CreateJSON(ctx, c, keys.UserKey(user.Name), user); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if _, err := store.CreateJSON(ctx, c, keys.TokenKey(tok.ID), tok); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

// ensureAuth creates the root user and role and enables authentication.
func ensureAuth(ctx context.Context, c *clientv3.Client, password string) error {
	ctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	st, err := c.AuthStatus(ctx)
	if err != nil {
		return fmt.Errorf("bootstrap: auth status: %w", err)
	}
	if st.Enabled {
		return nil
	}
	ignore := func(err error, benign ...error) error {
		for _, b := range benign {
			if errors.Is(err, b) {
				return nil
			}
		}
		return err
	}
	if _, err := c.UserAdd(ctx, "root", password); ignore(err, rpctypes.ErrUserAlreadyExist) != nil {
		return fmt.Errorf("bootstrap: add root: %w", err)
	}
	if _, err := c.RoleAdd(ctx, "root"); ignore(err, rpctypes.ErrRoleAlreadyExist) != nil {
		return fmt.Errorf("bootstrap: add root role: %w", err)
	}
	if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
		return fmt.Errorf("bootstrap: grant root: %w", err)
	}
	// Another master may have enabled auth meanwhile: then this call fails
	// for lack of a token, and the status says enabled.
	if _, err := c.AuthEnable(ctx); err != nil {
		if st, serr := c.AuthStatus(ctx); serr == nil && st.Enabled {
			return nil
		}
		return fmt.Errorf("bootstrap: enable auth: %w", err)
	}
	return nil
}

// retry calls f until it succeeds, ctx ends or deadline passes.
func retry(ctx context.Context, deadline time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
