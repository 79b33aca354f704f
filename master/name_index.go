package master

import (
	"context"
	"errors"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Instance and node records are created, renamed and deleted only through
// these helpers: each keeps the case-insensitive name index
// (keys.NameKey) in the same transaction as the record.

// createNamed adds to w the creation of the record of name under prefix
// (InstancesPrefix, NodesPrefix) and of its name-index key; both must be
// absent, so a name that differs from an existing one only in case loses.
func createNamed[T any](w store.Writer, prefix, name string, v T) error {
	if err := store.New(prefix+name, v).Put(w); err != nil {
		return err
	}
	return store.New(keys.NameKey(prefix, name), name).Put(w)
}

// deleteNamed adds to w the delete of the record of name under prefix and of
// its name-index key; rev > 0 guards the record (compare-and-swap).
func deleteNamed(w store.Writer, prefix, name string, rev int64) {
	if rev > 0 {
		w.If(store.Unchanged(prefix+name, rev))
	}
	w.Then(clientv3.OpDelete(prefix+name), clientv3.OpDelete(keys.NameKey(prefix, name)))
}

// createInstanceRecord adds the creation of rec (and its name key) to w.
func createInstanceRecord(w store.Writer, rec keys.InstanceRecord) error {
	return createNamed(w, keys.InstancesPrefix, rec.Name, rec)
}

// nameTaken returns the name of a record under prefix (InstancesPrefix,
// NodesPrefix) that is name without regard to case ("" when none):
// instances and nodes are named by hostnames, and "Web1" next to "web1"
// would be two machines with one DNS name. It reads the one index key.
func (m *Master) nameTaken(ctx context.Context, prefix, name string) (string, error) {
	var taken string
	_, err := store.GetJSON(ctx, m.client, keys.NameKey(prefix, name), &taken)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", unavailable("read name index", err)
	}
	return taken, nil
}

// checkNameFree refuses name when a record under prefix has it, compared
// without regard to case; what names the kind of record in messages.
func (m *Master) checkNameFree(ctx context.Context, what, prefix, name string) error {
	taken, err := m.nameTaken(ctx, prefix, name)
	if err != nil {
		return err
	}
	switch {
	case taken == name:
		return api.Errorf(api.CodeAlreadyExists, "%s %q already exists", what, name)
	case taken != "":
		return api.Errorf(api.CodeAlreadyExists, "%s %q already exists (names are compared without regard to case)", what, taken)
	}
	return nil
}
