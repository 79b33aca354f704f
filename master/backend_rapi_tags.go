package master

import (
	"context"
	"errors"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

func tagsKey(p api.TagsModify) string {
	switch p.Kind {
	case api.TagKindNode:
		return keys.NodeKey(p.Name)
	case api.TagKindInstance:
		return keys.InstanceKey(p.Name)
	}
	return keys.ClusterTagsKey
}

// readTags reads the object's tags and revision, and returns how to write
// new tags back into its record.
func (m *Master) readTags(ctx context.Context, p api.TagsModify) ([]string, int64, func([]string) (clientv3.Op, error), error) {
	key := tagsKey(p)
	switch p.Kind {
	case api.TagKindNode:
		var r keys.NodeRecord
		rev, err := store.GetJSON(ctx, m.client, key, &r)
		if errors.Is(err, store.ErrNotFound) {
			return nil, 0, nil, api.Errorf(api.CodeUnknownEntity, "node %q not found", p.Name)
		}
		if err != nil {
			return nil, 0, nil, unavailable("read node", err)
		}
		return r.Tags, rev, func(t []string) (clientv3.Op, error) { r.Tags = t; return store.PutJSON(key, r) }, nil
	case api.TagKindInstance:
		r, rev, err := m.instanceRecord(ctx, p.Name)
		if err != nil {
			return nil, 0, nil, err
		}
		return r.Tags, rev, func(t []string) (clientv3.Op, error) { r.Tags = t; return store.PutJSON(key, r) }, nil
	}
	var tags []string
	rev, err := store.GetJSON(ctx, m.client, key, &tags)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, 0, nil, unavailable("read cluster tags", err)
	}
	return tags, rev, func(t []string) (clientv3.Op, error) { return store.PutJSON(key, t) }, nil
}

// applyTags adds and removes tags; the result is sorted and without
// duplicates. Removing a tag the object does not have is unknown_entity, as
// in Ganeti.
func applyTags(p api.TagsModify, tags []string) ([]string, error) {
	for _, t := range p.Remove {
		if !slices.Contains(tags, t) {
			return nil, api.Errorf(api.CodeUnknownEntity, "tag %q not found on %s %s", t, p.Kind, p.Name)
		}
	}
	out := []string{}
	for _, t := range append(slices.Clone(tags), p.Add...) {
		if !slices.Contains(p.Remove, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > api.MaxTags {
		return nil, api.Errorf(api.CodeWrongInput, "%s %s would have %d tags, at most %d", p.Kind, p.Name, len(out), api.MaxTags)
	}
	return out, nil
}
