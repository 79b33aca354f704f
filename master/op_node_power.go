package master

import (
	"context"
	"encoding/json"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/fence"
	"github.com/drover-project/drover/master/jobs"
)

// opNodePower is node.power: on, off or status through the node's fence
// device (`node power on|off|status NAME`). Off and on are confirmed by a
// status; the result (api.FenceResult) and the job log hold no secret. A
// node powered off this way is then seen unreachable, fenced (the device
// confirms off again) and failed over by the liveness controller.
func (m *Master) opNodePower() jobs.Kind {
	parse := func(raw json.RawMessage) (api.NodePowerOp, error) {
		var p api.NodePowerOp
		if err := decodeParams(raw, &p); err != nil {
			return p, err
		}
		if err := validName("node", p.Name); err != nil {
			return p, err
		}
		switch p.Action {
		case api.PowerOn, api.PowerOff, api.PowerStatus:
			return p, nil
		}
		return p, api.Errorf(api.CodeWrongInput, "power action %q: want on, off or status", p.Action)
	}
	device := func(ctx context.Context, name string) (*fence.Device, error) {
		if _, err := m.nodeRecord(ctx, name); err != nil {
			return nil, err
		}
		d, err := m.fenceDevice(ctx, name)
		if err == nil && d == nil {
			err = api.Errorf(api.CodeWrongState, "node %s has no fence device (node modify %s --fence-agent ... --fence-param ...)", name, name)
		}
		return d, err
	}
	return jobs.Kind{
		Name: api.OpNodePower,
		Validate: func(ctx context.Context, raw json.RawMessage) error {
			p, err := parse(raw)
			if err != nil {
				return err
			}
			_, err = device(ctx, p.Name)
			return err
		},
		Locks: func(raw json.RawMessage) []string { return nodeLock(paramName(raw)) },
		Steps: func(raw json.RawMessage) ([]jobs.Step, error) {
			p, err := parse(raw)
			if err != nil {
				return nil, err
			}
			return []jobs.Step{{Name: "power-" + p.Action, Run: func(ctx context.Context, sc *jobs.StepContext) error {
				d, err := device(ctx, p.Name)
				if err != nil {
					return err
				}
				r := m.fenceRunner(sc.Log.With("node", p.Name))
				var res api.FenceResult
				switch p.Action {
				case api.PowerOn:
					res, err = r.On(ctx, *d)
				case api.PowerOff:
					res, err = r.Off(ctx, *d)
				default:
					res, err = r.Status(ctx, *d)
				}
				if p.Action != api.PowerStatus {
					m.observeFence(res)
				}
				if err != nil {
					return api.Errorf(api.CodeWrongState, "%s %s of node %s failed after %d attempt(s): %s",
						d.Agent, p.Action, p.Name, res.Attempts, res.Error)
				}
				sc.Logf("%s %s of node %s: power %s (%d attempt(s), %v)", d.Agent, p.Action, p.Name, res.Power,
					res.Attempts, res.Duration.Round(1e6))
				return sc.SetResult(res)
			}}}, nil
		},
	}
}
