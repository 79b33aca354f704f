package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

func (m *Master) opNodeModify() jobs.Kind {
	parse := func(raw json.RawMessage) (api.NodeModifyOp, error) {
		var p api.NodeModifyOp
		if err := decodeParams(raw, &p); err != nil {
			return p, err
		}
		if err := validName("node", p.Name); err != nil {
			return p, err
		}
		if p.Drained == nil && p.Offline == nil && p.MasterCapable == nil && p.VMCapable == nil && p.SecondaryIP == nil {
			return p, api.Errorf(api.CodeWrongInput, "node modify without changes")
		}
		if p.SecondaryIP != nil {
			return p, validIP("secondary_ip", *p.SecondaryIP)
		}
		return p, nil
	}
	return jobs.Kind{
		Name: api.OpNodeModify,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parse(raw)
			if err != nil {
				return err
			}
			_, err = m.nodeRecord(ctx, p.Name)
			return err
		},
		Locks: func(raw json.RawMessage) []string { return nodeLock(paramName(raw)) },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parse(raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{{Name: "update", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				var rec keys.NodeRecord
				rev, err := store.GetJSON(ctx, sc.Client, keys.NodeKey(p.Name), &rec)
				if errors.Is(err, store.ErrNotFound) {
					return api.Errorf(api.CodeUnknownEntity, "node %q not found", p.Name)
				}
				if err != nil {
					return err
				}
				var changes []string
				set := func(dst *bool, v *bool, what string) {
					if v != nil {
						*dst = *v
						changes = append(changes, fmt.Sprintf("%s=%t", what, *v))
					}
				}
				set(&rec.Drained, p.Drained, "drained")
				set(&rec.Offline, p.Offline, "offline")
				set(&rec.MasterCapable, p.MasterCapable, "master_capable")
				set(&rec.VMCapable, p.VMCapable, "vm_capable")
				if p.SecondaryIP != nil {
					rec.SecondaryIP = *p.SecondaryIP
					changes = append(changes, "secondary_ip="+*p.SecondaryIP)
				}
				put, err := store.PutJSON(keys.NodeKey(p.Name), rec)
				if err != nil {
					return err
				}
				sc.If(store.Unchanged(keys.NodeKey(p.Name), rev))
				sc.Then(put)
				sc.Logf("node %s modified: %s", p.Name, strings.Join(changes, ", "))
				return sc.SetResult(nodeView(rec, nil))
			}}}, nil
		},
	}
}
