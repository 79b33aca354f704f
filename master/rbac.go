package master

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// ensureNodeUser creates (or completes) etcd role node.NAME: readwrite on
// nodestate/NAME/, read on nodes/NAME, nodecmd/NAME/, cluster and election/. The users
// that hold it are made by issueNodeUser, one per issued credential.
// Idempotent.
func ensureNodeUser(ctx context.Context, c *clientv3.Client, node string) error {
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
		// The election: an agent compares a command's epoch with the
		// current leader's before it runs it (docs/jobs.md).
		{keys.ElectionPrefix + "/", clientv3.GetPrefixRangeEnd(keys.ElectionPrefix + "/"), clientv3.PermissionType(clientv3.PermRead)},
	}
	for _, g := range grants {
		if _, err := c.RoleGrantPermission(ctx, name, g.key, g.end, g.perm); err != nil {
			return fmt.Errorf("grant %s on %s: %w", name, g.key, err)
		}
	}
	return nil
}

// nodeCertUser is the etcd user of one credential of node: node.NAME@ID.
// '@' cannot occur in a node name, so the users of two nodes never share a
// prefix.
func nodeCertUser(node, id string) string { return keys.NodeEtcdUser(node) + "@" + id }

// issueNodeUser makes a new etcd user for a new credential of node, without
// password (the agent authenticates with a client certificate whose CN is
// the user) and with role node.NAME, then deletes the node's earlier users:
// etcd checks the user on every request, so an old certificate stops working
// at once, even on an open connection.
func issueNodeUser(ctx context.Context, c *clientv3.Client, node string) (string, error) {
	if err := ensureNodeUser(ctx, c, node); err != nil {
		return "", err
	}
	ctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	user := nodeCertUser(node, randomSecret(6))
	if _, err := c.UserAddWithOptions(ctx, user, "", &clientv3.UserAddOptions{NoPassword: true}); err != nil {
		return "", fmt.Errorf("add user %s: %w", user, err)
	}
	if _, err := c.UserGrantRole(ctx, user, keys.NodeEtcdUser(node)); err != nil {
		return "", fmt.Errorf("grant role to %s: %w", user, err)
	}
	if err := deleteNodeUsers(ctx, c, node, user); err != nil {
		return "", err
	}
	return user, nil
}

// deleteNodeUsers deletes every etcd user of node but keep (and the
// password user node.NAME of older versions).
func deleteNodeUsers(ctx context.Context, c *clientv3.Client, node, keep string) error {
	resp, err := c.UserList(ctx)
	if err != nil {
		return fmt.Errorf("list etcd users: %w", err)
	}
	legacy, prefix := keys.NodeEtcdUser(node), nodeCertUser(node, "")
	for _, u := range resp.Users {
		if u == keep || (u != legacy && !strings.HasPrefix(u, prefix)) {
			continue
		}
		if _, err := c.UserDelete(ctx, u); err != nil && !errors.Is(err, rpctypes.ErrUserNotFound) {
			return fmt.Errorf("delete user %s: %w", u, err)
		}
	}
	return nil
}

// removeNodeUser deletes node's etcd users and role node.NAME. Idempotent.
func removeNodeUser(ctx context.Context, c *clientv3.Client, node string) error {
	ctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	if err := deleteNodeUsers(ctx, c, node, ""); err != nil {
		return err
	}
	name := keys.NodeEtcdUser(node)
	if _, err := c.RoleDelete(ctx, name); err != nil && !errors.Is(err, rpctypes.ErrRoleNotFound) {
		return fmt.Errorf("delete role %s: %w", name, err)
	}
	return nil
}
