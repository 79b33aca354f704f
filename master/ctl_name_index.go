package master

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// indexNames is a one-pass controller: when a master starts leading, it
// writes the name-index key (keys.NameKey) of every instance and node
// record that has none (records written before the index existed). Each key
// is written fenced, only while it is still absent and its record exists; a
// record whose lowercase name another record already holds is logged.
func (m *Master) indexNames(ctx context.Context, fence store.Fence) error {
	for _, prefix := range []string{keys.InstancesPrefix, keys.NodesPrefix} {
		if err := m.indexPrefix(ctx, fence, prefix); err != nil {
			return err
		}
	}
	return nil
}

func (m *Master) indexPrefix(ctx context.Context, fence store.Fence, prefix string) error {
	recs, err := m.keysUnder(ctx, prefix)
	if err != nil {
		return err
	}
	have, err := m.keysUnder(ctx, keys.NameKey(prefix, ""))
	if err != nil {
		return err
	}
	for key := range recs {
		name := keys.NameFromKey(prefix, key)
		if name == "" || have[keys.NameKey(prefix, name)] {
			continue
		}
		var tx store.Txn
		tx.If(clientv3.Compare(clientv3.CreateRevision(key), ">", 0))
		if err := store.New(keys.NameKey(prefix, name), name).Put(&tx); err != nil {
			return err
		}
		if _, err := fence.Commit(ctx, m.client, &tx); err != nil {
			m.log.Warn("name_not_indexed", "record", key, "err", err)
			continue
		}
		have[keys.NameKey(prefix, name)] = true
		m.log.Info("name_indexed", "record", key)
	}
	return nil
}

// keysUnder lists the keys under prefix (keys only).
func (m *Master) keysUnder(ctx context.Context, prefix string) (map[string]bool, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("name index: list %s: %w", prefix, err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = true
	}
	return out, nil
}
