package master_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/mastertest"
)

// opHold is a test opcode that holds a lock for a while.
const opHold = "test.hold"

type holdParams struct {
	Lock  string        `json:"lock"`
	For   time.Duration `json:"for"`
	Panic bool          `json:"panic,omitempty"`
}

func holdOp(t testing.TB, lock string, d time.Duration) api.OpCode {
	return mastertest.Op(t, opHold, holdParams{Lock: lock, For: d})
}

var holdKind = jobs.Kind{
	Name: opHold,
	Locks: func(raw json.RawMessage) []string {
		var p holdParams
		_ = json.Unmarshal(raw, &p)
		return []string{"node/" + p.Lock}
	},
	Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
		var p holdParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		return []jobs.Step{{Name: "hold", Run: func(ctx context.Context, sc *jobs.StepContext) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(p.For):
			}
			if p.Panic {
				panic("test panic")
			}
			sc.Logf("held %s", p.Lock)
			return nil
		}}}, nil
	},
}

func init() {
	defaultExtra = func(c *master.Config) { c.ExtraOps = append(c.ExtraOps, holdKind) }
}

var defaultExtra func(*master.Config)
