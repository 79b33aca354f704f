package master

import (
	"context"
	"encoding/json"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
)

// Limits of debug.delay.
const (
	maxDelay      = time.Hour
	maxDelaySteps = 1000
)

// parseDelay checks a debug.delay opcode and returns its step length and count.
func parseDelay(raw json.RawMessage) (api.DebugDelay, time.Duration, int, error) {
	var p api.DebugDelay
	if err := decodeParams(raw, &p); err != nil {
		return p, 0, 0, err
	}
	d, err := time.ParseDuration(p.Duration)
	if err != nil || d < 0 || d > maxDelay {
		return p, 0, 0, api.Errorf(api.CodeWrongInput, "duration %q: want a Go duration in 0..%v", p.Duration, maxDelay)
	}
	n := p.Steps
	if n == 0 {
		n = max(1, int(d/time.Second))
	}
	if n < 1 || n > maxDelaySteps {
		return p, 0, 0, api.Errorf(api.CodeWrongInput, "steps %d not in 1..%d", p.Steps, maxDelaySteps)
	}
	return p, d / time.Duration(n), n, nil
}

// opDebugDelay is gnt-debug delay: N timed steps, each checkpointed.
func opDebugDelay() jobs.Kind {
	return jobs.Kind{
		Name: api.OpDebugDelay,
		Validate: func(_ context.Context, raw json.RawMessage) error {
			_, _, _, err := parseDelay(raw)
			return err
		},
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, each, n, err := parseDelay(raw)
			if err != nil {
				return nil, err
			}
			steps := make([]jobs.Step, n)
			for i := range steps {
				steps[i] = jobs.Step{Name: "delay", Run: func(ctx context.Context, sc *jobs.StepContext) error {
					t := time.NewTimer(each)
					defer t.Stop()
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-t.C:
					}
					if p.Fail && i == n-1 {
						return api.Errorf(api.CodeWrongState, "debug delay: failing step %d/%d as asked", i+1, n)
					}
					sc.Logf("step %d/%d done", i+1, n)
					return nil
				}}
			}
			return steps, nil
		},
	}
}
