package master

import (
	"context"
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
)

// templateUsers lists the instances that use template name (at version, or
// any version when 0).
func (m *Master) templateUsers(ctx context.Context, name string, version int) ([]string, error) {
	v, err := m.readClusterView(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range v.instances {
		if r.OS == name && (version == 0 || r.OSVersion == version) {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

func (m *Master) opTemplateRemove() jobs.Kind {
	check := func(ctx context.Context, p api.TemplateRemove) ([]keys.TemplateRecord, error) {
		recs, err := m.templateRecords(ctx, p.Name)
		if err != nil {
			return nil, err
		}
		var sel []keys.TemplateRecord
		for _, r := range recs {
			if p.Version == 0 || r.Version == p.Version {
				sel = append(sel, r)
			}
		}
		if len(sel) == 0 {
			return nil, api.Errorf(api.CodeUnknownEntity, "template %s not found", refString(p.Name, p.Version))
		}
		users, err := m.templateUsers(ctx, p.Name, p.Version)
		if err != nil {
			return nil, err
		}
		if len(users) > 0 {
			return nil, api.Errorf(api.CodeWrongState, "template %s is used by instances %v", refString(p.Name, p.Version), users)
		}
		return sel, nil
	}
	return jobs.Kind{
		Name: api.OpTemplateRemove,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parseOp[api.TemplateRemove](raw)
			if err != nil {
				return err
			}
			_, err = check(ctx, p)
			return err
		},
		Locks: func(raw json.RawMessage) []string { return templateLock(paramName(raw)) },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parseOp[api.TemplateRemove](raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{{Name: "remove", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				sel, err := check(ctx, p)
				if err != nil {
					return err
				}
				s, err := m.templateStore()
				if err != nil {
					return err
				}
				for _, r := range sel {
					ref := refString(r.Name, r.Version)
					sc.Then(clientv3.OpDelete(keys.TemplateKey(r.Name, r.Version)))
					// The other masters drop their copies when they see the
					// record go (templatesync.go).
					if err := s.Remove(ref); err != nil && templateError(err) != nil && api.CodeOf(templateError(err)) != api.CodeUnknownEntity {
						return templateError(err)
					}
					sc.Logf("template %s removed", ref)
				}
				return nil
			}}}, nil
		},
	}
}
