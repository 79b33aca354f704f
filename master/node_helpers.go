package master

import (
	"context"
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

func nodeLock(name string) []string { return []string{"node/" + name} }

// paramName extracts the "name" field of an opcode's parameters (for locks).
func paramName(raw json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(raw, &p)
	return p.Name
}

// nodeExists reports whether node name has a record.
func (m *Master) nodeExists(ctx context.Context, name string) (bool, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.NodeKey(name), clientv3.WithCountOnly())
	if err != nil {
		return false, unavailable("read node", err)
	}
	return resp.Count > 0, nil
}
