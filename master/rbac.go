package master

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// ensureNodeUser creates (or updates) etcd user and role node.NAME: readwrite on
// nodestate/NAME/, read on nodes/NAME, nodecmd/NAME/ and cluster. A non-empty
// password is set (rotated); an empty one keeps an existing user's password. Idempotent.
func ensureNodeUser(ctx context.Context, c *clientv3.Client, node, password string) error {
	ctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	name := keys.NodeEtcdUser(node)
	if _, err := c.RoleAdd(ctx, name); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return fmt.Errorf("add role %s: %w", name, err)
	}
	grants := []struct {
		key, end string
		perm     clientv3.PermissionType
	}{
		{keys.NodeStatePrefix(node), clientv3.GetPrefixRangeEnd(keys.NodeStatePrefix(node)), clientv3.PermissionType(clientv3.PermReadWrite)},
		{keys.NodeKey(node), "", clientv3.PermissionType(clientv3.PermRead)},
		{keys.NodeCmdPrefix(node), clientv3.GetPrefixRangeEnd(keys.NodeCmdPrefix(node)), clientv3.PermissionType(clientv3.PermRead)},
		{keys.ClusterKey, "", clientv3.PermissionType(clientv3.PermRead)},
	}
	for _, g := range grants {
		if _, err := c.RoleGrantPermission(ctx, name, g.key, g.end, g.perm); err != nil {
			return fmt.Errorf("grant %s on %s: %w", name, g.key, err)
		}
	}
	keep := password == ""
	if keep {
		password = randomSecret(16)
	}
	_, err := c.UserAdd(ctx, name, password)
	switch {
	case errors.Is(err, rpctypes.ErrUserAlreadyExist) && keep:
	case errors.Is(err, rpctypes.ErrUserAlreadyExist):
		if _, err := c.UserChangePassword(ctx, name, password); err != nil {
			return fmt.Errorf("set password of %s: %w", name, err)
		}
	case err != nil:
		return fmt.Errorf("add user %s: %w", name, err)
	}
	if _, err := c.UserGrantRole(ctx, name, name); err != nil {
		return fmt.Errorf("grant role %s: %w", name, err)
	}
	return nil
}

// removeNodeUser deletes etcd user and role node.NAME. Idempotent.
func removeNodeUser(ctx context.Context, c *clientv3.Client, node string) error {
	ctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	name := keys.NodeEtcdUser(node)
	if _, err := c.UserDelete(ctx, name); err != nil && !errors.Is(err, rpctypes.ErrUserNotFound) {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if _, err := c.RoleDelete(ctx, name); err != nil && !errors.Is(err, rpctypes.ErrRoleNotFound) {
		return fmt.Errorf("delete role %s: %w", name, err)
	}
	return nil
}
