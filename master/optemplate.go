package master

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
	"github.com/drover-project/drover/templates"
)

// templateBuildTimeout bounds one template build.
const templateBuildTimeout = 2 * time.Hour

func templateLock(name string) []string { return []string{"template/" + name} }

// buildProgress turns templates.Progress into job log lines: one per step
// change or 10% of a step, at most 100 in all.
type buildProgress struct {
	sc      *jobs.StepContext
	step    string
	percent float64
	lines   int
}

func (b *buildProgress) report(p templates.Progress) {
	b.sc.Log.Debug("template_build_progress", "step", p.Step, "percent", p.Percent, "message", p.Message)
	if p.Step == b.step && (p.Percent < 0 || p.Percent-b.percent < 10) {
		return
	}
	b.step, b.percent = p.Step, p.Percent
	// The job log is written with the step's checkpoint, at its end; the
	// master's log shows the progress as it happens.
	b.sc.Log.Info("template_build_progress", "progress", p.String())
	if b.lines < 100 {
		b.sc.Logf("%s", p.String())
		b.lines++
	}
}

func (m *Master) opTemplateBuild() jobs.Kind {
	return jobs.Kind{
		Name: api.OpTemplateBuild,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			_, err := parseOp[api.TemplateBuild](raw)
			return err
		},
		Locks: func(raw json.RawMessage) []string { return templateLock(paramName(raw)) },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parseOp[api.TemplateBuild](raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{{Name: "build", Run: func(ctx context.Context, sc *jobs.StepContext) error {
				return m.buildTemplate(ctx, sc, p)
			}}}, nil
		},
	}
}

// buildTemplate bootstraps the template on this master (the leader), adds
// it to the store and records it with the step's checkpoint.
func (m *Master) buildTemplate(ctx context.Context, sc *jobs.StepContext, p api.TemplateBuild) error {
	s, err := m.templateStore()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, templateBuildTimeout)
	defer cancel()
	work := filepath.Join(m.templateDir(), "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("template work dir: %w", err)
	}
	dir, err := os.MkdirTemp(work, p.Name+"-")
	if err != nil {
		return fmt.Errorf("template work dir: %w", err)
	}
	defer os.RemoveAll(dir)
	// What booting needs is always added: a template must boot as a KVM
	// guest (direct kernel boot) and as a container.
	include := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(templates.BootInclude), p.Include...))))
	sc.Logf("building template %s (suite %s, variant %s, include %v) on master %s", p.Name, orDefault(p.Suite, "bookworm"), orDefault(p.Variant, "minbase"), include, m.cfg.Name)
	bp := &buildProgress{sc: sc, percent: -100}
	start := time.Now()
	a, err := templates.Build(ctx, templates.BuildOptions{
		Name: p.Name, Suite: p.Suite, Variant: p.Variant, Include: include, Mirror: p.Mirror,
		WorkDir: dir, Logger: sc.Log,
	}, bp.report)
	if err != nil {
		return templateError(err)
	}
	mf, err := s.Add(ctx, a)
	if err != nil {
		return templateError(err)
	}
	rec, err := m.templateRecordOf(mf)
	if err != nil {
		return err
	}
	put, err := store.PutJSON(keys.TemplateKey(rec.Name, rec.Version), rec)
	if err != nil {
		return err
	}
	sc.If(store.Absent(keys.TemplateKey(rec.Name, rec.Version)))
	sc.Then(put)
	sc.Logf("template %s built in %.0fs: %d MiB, %d packages, %s", mf.Ref(), time.Since(start).Seconds(), mf.Size>>20, len(mf.Packages), mf.Digest())
	return sc.SetResult(templateView(rec, false))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

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

func refString(name string, version int) string {
	if version == 0 {
		return name
	}
	return fmt.Sprintf("%s@%d", name, version)
}
