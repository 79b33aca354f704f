package master

import (
	"context"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// verifyState adds cluster verify's findings about state: instances in an
// ERROR state, orphans on nodes, and templates that a running master does
// not hold.
func (m *Master) verifyState(ctx context.Context, add func(sev, code, obj, format string, args ...any)) error {
	insts, err := m.ListInstances(ctx)
	if err != nil {
		return err
	}
	for _, in := range insts {
		if strings.HasPrefix(in.Status, "ERROR") {
			add("error", "EINSTANCEERROR", "instance/"+in.Name, "instance %s on %s is %s", in.Name, in.PrimaryNode, in.Status)
		}
	}
	orphans, err := m.findOrphans(ctx)
	if err != nil {
		return err
	}
	for _, o := range orphans {
		add("error", "EORPHAN", "node/"+o.Node, "node %s holds %s (uuid %s, %s) that no instance record claims; `drover cluster repair` removes it",
			o.Node, o.Name, orDefault(o.UUID, "unknown"), o.State)
	}
	recs, err := m.templateRecords(ctx, "")
	if err != nil {
		return err
	}
	held, err := m.templateHoldings(ctx)
	if err != nil {
		return err
	}
	// Only running masters publish what they hold; a master that is down
	// is reported as such (EMASTERDOWN).
	running, err := m.runningMasters(ctx)
	if err != nil {
		return err
	}
	for _, name := range running {
		for _, r := range recs {
			if !held[name][r.Digest] {
				add("error", "ETEMPLATEMISSING", "master/"+name, "template %s@%d (%s) is not in the store of master %s",
					r.Name, r.Version, r.Digest, name)
			}
		}
	}
	return nil
}

// runningMasters lists the masters registered now (their session lives).
func (m *Master) runningMasters(ctx context.Context) ([]string, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.MastersPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, unavailable("read masters", err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		if n := keys.NameFromKey(keys.MastersPrefix, string(kv.Key)); n != "" {
			out = append(out, n)
		}
	}
	return out, nil
}
