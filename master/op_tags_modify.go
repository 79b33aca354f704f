package master

import (
	"context"
	"encoding/json"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/store"
)

// opTagsModify is tags.modify (Ganeti's OpTagsSet and OpTagsDel): one
// fenced write of the object's tags, compared on its revision.
func (m *Master) opTagsModify() jobs.Kind {
	parse := func(raw json.RawMessage) (api.TagsModify, error) {
		var p api.TagsModify
		if err := decodeParams(raw, &p); err != nil {
			return p, err
		}
		return p, p.Validate()
	}
	return jobs.Kind{
		Name: api.OpTagsModify,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parse(raw)
			if err != nil {
				return err
			}
			tags, _, _, err := m.readTags(ctx, p)
			if err != nil {
				return err
			}
			_, err = applyTags(p, tags)
			return err
		},
		Locks: func(raw json.RawMessage) []string {
			var p api.TagsModify
			_ = json.Unmarshal(raw, &p)
			switch p.Kind {
			case api.TagKindNode:
				return nodeLock(p.Name)
			case api.TagKindInstance:
				return []string{instanceLock(p.Name)}
			}
			return []string{"cluster"}
		},
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parse(raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{{Name: "tags", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				tags, rev, write, err := m.readTags(ctx, p)
				if err != nil {
					return err
				}
				if tags, err = applyTags(p, tags); err != nil {
					return err
				}
				put, err := write(tags)
				if err != nil {
					return err
				}
				sc.If(store.Unchanged(tagsKey(p), rev))
				sc.Then(put)
				sc.Logf("tags of %s %s: %v", p.Kind, p.Name, tags)
				return sc.SetResult(tags)
			}}}, nil
		},
	}
}
