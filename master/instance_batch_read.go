package master

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// readChunk is how many keys one read transaction asks for (etcd allows 128
// operations in a transaction).
const readChunk = 100

// readKeys reads ks in transactions of readChunk reads, each one
// linearizable read at one revision; absent keys are left out.
func readKeys(ctx context.Context, c *clientv3.Client, ks []string) (map[string]*clientv3.GetResponse, error) {
	out := make(map[string]*clientv3.GetResponse, len(ks))
	for start := 0; start < len(ks); start += readChunk {
		chunk := ks[start:min(start+readChunk, len(ks))]
		ops := make([]clientv3.Op, len(chunk))
		for i, k := range chunk {
			ops[i] = clientv3.OpGet(k)
		}
		tctx, cancel := store.WithTimeout(ctx)
		resp, err := c.Txn(tctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("read %d keys: %w", len(chunk), err)
		}
		for i, r := range resp.Responses {
			if g := (*clientv3.GetResponse)(r.GetResponseRange()); g != nil && len(g.Kvs) > 0 {
				out[chunk[i]] = g
			}
		}
	}
	return out, nil
}

// checkNewNames is checkNewName for many names, in few reads.
func (m *Master) checkNewNames(ctx context.Context, names []string) error {
	ks := make([]string, len(names))
	for i, n := range names {
		ks[i] = keys.NameKey(keys.InstancesPrefix, n)
	}
	got, err := readKeys(ctx, m.client, ks)
	if err != nil {
		return unavailable("read name index", err)
	}
	for i, name := range names {
		g := got[ks[i]]
		if g == nil {
			continue
		}
		var taken string
		if err := json.Unmarshal(g.Kvs[0].Value, &taken); err != nil {
			return fmt.Errorf("decode %s: %w", ks[i], err)
		}
		if taken == name {
			return api.Errorf(api.CodeAlreadyExists, "instance %q already exists", name)
		}
		return api.Errorf(api.CodeAlreadyExists, "instance %q already exists (names are compared without regard to case)", taken)
	}
	return nil
}

// heldRecord is an instance record this batch job holds, with its revision.
type heldRecord struct {
	rec keys.InstanceRecord
	rev int64
}

// heldRecords reads the records of the batch's instances and returns those
// this job holds (being created by it), by name.
func (b *batch) heldRecords(ctx context.Context, sc *jobs.StepContext) (map[string]*heldRecord, error) {
	ks := make([]string, len(b.adds))
	for i, p := range b.adds {
		ks[i] = keys.InstanceKey(p.Name)
	}
	got, err := readKeys(ctx, sc.Client, ks)
	if err != nil {
		return nil, unavailable("read instances", err)
	}
	out := map[string]*heldRecord{}
	for i, p := range b.adds {
		g := got[ks[i]]
		if g == nil {
			continue
		}
		h := &heldRecord{rev: g.Kvs[0].ModRevision}
		if err := json.Unmarshal(g.Kvs[0].Value, &h.rec); err != nil {
			return nil, fmt.Errorf("decode %s: %w", ks[i], err)
		}
		if h.rec.CreatingJob == sc.JobID {
			out[p.Name] = h
		}
	}
	return out, nil
}
