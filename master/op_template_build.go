package master

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
	"github.com/drover-project/drover/templates"
)

// templateBuildTimeout bounds one template build.
const templateBuildTimeout = 2 * time.Hour

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
