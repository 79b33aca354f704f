package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// Deadlines of node commands (the agent has its own).
const (
	cmdTimeoutDefault = 2 * time.Minute
	cmdTimeoutInstall = 30 * time.Minute
	cmdTimeoutConsole = 15 * time.Second
)

// nodeCmd is one command for a node's agent.
type nodeCmd struct {
	// ID is unique per job step and instance ("<job>-<op>-<step>-<uuid>");
	// the same ID is the same command, so a re-run step does not run it
	// twice.
	ID string
	// JobID and Step say which job step the command belongs to (0, "" for
	// the leader's own work).
	JobID    uint64
	Step     string
	Node     string
	Kind     string
	Instance keys.InstanceRecord
	Params   any
	// Template to fetch (create, reinstall).
	Template *keys.TemplateRecord
	// NoInstall: see keys.NodeCommand.NoInstall.
	NoInstall bool
	Timeout   time.Duration
	// Progress, if set, gets the agent's progress texts (deduplicated).
	Progress func(string)
}

// stepCmdID is the command ID of a job step on an instance: the job, the
// opcode's index, the step and the instance's UUID (not its name, which a
// rename changes and a new instance may reuse).
func stepCmdID(sc *jobs.StepContext, step, uuid string) string {
	return fmt.Sprintf("%d-%d-%s-%s", sc.JobID, sc.Op, step, uuid)
}

// fenceOf finds the election key of the leadership with this epoch.
func (m *Master) fenceOf(ctx context.Context, epoch int64) (store.Fence, error) {
	tctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := m.client.Get(tctx, keys.ElectionPrefix+"/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return store.Fence{}, unavailable("read election", err)
	}
	for _, kv := range resp.Kvs {
		if kv.CreateRevision == epoch {
			return store.Fence{Key: string(kv.Key), Epoch: epoch}, nil
		}
	}
	return store.Fence{}, jobs.ErrLeadershipLost
}

// nodeUsable checks that node exists, is not offline and its agent is alive;
// it returns the agent's status.
func (m *Master) nodeUsable(ctx context.Context, node string) (*keys.NodeRecord, *keys.NodeStatus, error) {
	rec, err := m.nodeRecord(ctx, node)
	if err != nil {
		return nil, nil, err
	}
	if rec.Offline {
		return rec, nil, api.Errorf(api.CodeWrongState, "node %s is offline", node)
	}
	var st keys.NodeStatus
	if _, err := store.GetJSON(ctx, m.client, keys.NodeStatusKey(node), &st); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return rec, nil, errUnreachable(node)
		}
		return rec, nil, unavailable("read node status", err)
	}
	return rec, &st, nil
}

// runNodeCmd writes c (with the leader's epoch, fenced) unless its result is
// already there, then waits for the agent's Done result, the node going
// away, or the deadline. It returns the result's output, or its error.
//
// Whatever the outcome, it deletes the command (and its result) when it is
// done with it: the answer is in, or the step gives up on it, and an agent
// runs only commands that are still there (it cancels, and for a create
// undoes, one deleted while it runs). Only when the caller's context ends
// (leadership lost, master stopping) is the command left, for the next
// leader, which runs the step again with the same ID.
func (m *Master) runNodeCmd(parent context.Context, epoch int64, c nodeCmd) (json.RawMessage, error) {
	if c.Timeout == 0 {
		c.Timeout = cmdTimeoutDefault
	}
	ctx, cancel := context.WithTimeout(parent, c.Timeout)
	defer cancel()
	fence, err := m.fenceOf(ctx, epoch)
	if err != nil {
		return nil, err
	}
	resKey, cmdKey := keys.NodeResultKey(c.Node, c.ID), keys.NodeCommandKey(c.Node, c.ID)
	defer func() {
		if parent.Err() != nil {
			return
		}
		dctx, dcancel := store.WithTimeout(context.WithoutCancel(parent))
		defer dcancel()
		if _, err := fence.Txn(dctx, m.client, nil, clientv3.OpDelete(cmdKey), clientv3.OpDelete(resKey)); err != nil {
			m.log.Warn("node_command_delete_failed", "node", c.Node, "cmd", c.ID, "error", err)
		}
	}()
	if _, _, err := m.nodeUsable(ctx, c.Node); err != nil {
		return nil, err
	}
	tctx, tcancel := store.WithTimeout(ctx)
	resp, err := m.client.Get(tctx, resKey)
	tcancel()
	if err != nil {
		return nil, unavailable("read command result", err)
	}
	rev := resp.Header.Revision
	var res keys.NodeCommandResult
	done := len(resp.Kvs) > 0 && json.Unmarshal(resp.Kvs[0].Value, &res) == nil && answers(res, epoch)
	if !done {
		cmd := keys.NodeCommand{ID: c.ID, JobID: c.JobID, Step: c.Step, Epoch: epoch, Kind: c.Kind, Instance: c.Instance, NoInstall: c.NoInstall, CreatedAt: time.Now().UTC()}
		if c.Params != nil {
			if cmd.Params, err = json.Marshal(c.Params); err != nil {
				return nil, fmt.Errorf("encode params: %w", err)
			}
		}
		if c.Template != nil && c.Template.Digest != "" {
			cmd.TemplateDigest, cmd.TemplateURLs = c.Template.Digest, m.templateURLs(ctx, c.Template)
		}
		put, err := store.PutJSON(cmdKey, cmd)
		if err != nil {
			return nil, err
		}
		tr, err := fence.Txn(ctx, m.client, nil, put)
		if err != nil {
			if errors.Is(err, store.ErrFenced) {
				return nil, jobs.ErrLeadershipLost
			}
			return nil, unavailable("write node command", err)
		}
		rev = tr.Header.Revision
		m.log.Debug("node_command_sent", "node", c.Node, "cmd", c.ID, "kind", c.Kind, "instance", c.Instance.Name)
		if res, err = m.waitResult(ctx, epoch, c, rev); err != nil {
			return nil, err
		}
	}
	if res.Error != nil {
		return nil, &api.Error{Code: res.Error.Code, Message: fmt.Sprintf("node %s: %s", c.Node, res.Error.Message)}
	}
	return res.Output, nil
}

// waitResult watches the node's state prefix from rev until the result of
// c is Done, the node's status key vanishes (lease lost), or ctx ends.
func (m *Master) waitResult(ctx context.Context, epoch int64, c nodeCmd, rev int64) (keys.NodeCommandResult, error) {
	resKey, statusKey := keys.NodeResultKey(c.Node, c.ID), keys.NodeStatusKey(c.Node)
	lastProgress := ""
	for {
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := m.client.Watch(wctx, keys.NodeStatePrefix(c.Node), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for wr := range wch {
			if err := wr.Err(); err != nil {
				break
			}
			for _, ev := range wr.Events {
				rev = ev.Kv.ModRevision
				switch string(ev.Kv.Key) {
				case statusKey:
					if ev.Type == clientv3.EventTypeDelete {
						wcancel()
						return keys.NodeCommandResult{}, api.Errorf(api.CodeUnavailable,
							"node %s became unreachable while running %s (command %s)", c.Node, c.Kind, c.ID)
					}
				case resKey:
					if ev.Type != clientv3.EventTypePut {
						continue
					}
					var res keys.NodeCommandResult
					if err := json.Unmarshal(ev.Kv.Value, &res); err != nil {
						continue
					}
					if answers(res, epoch) {
						wcancel()
						return res, nil
					}
					if res.Progress != "" && res.Progress != lastProgress && c.Progress != nil {
						lastProgress = res.Progress
						c.Progress(res.Progress)
					}
				}
			}
		}
		wcancel()
		if ctx.Err() != nil {
			return keys.NodeCommandResult{}, api.Errorf(api.CodeUnavailable,
				"node %s did not answer %s (command %s) within %v", c.Node, c.Kind, c.ID, c.Timeout)
		}
		// The watch broke (compaction, etcd leader change): re-read, resume.
		tctx, tcancel := store.WithTimeout(ctx)
		resp, err := m.client.Get(tctx, resKey)
		tcancel()
		if err != nil {
			continue
		}
		var res keys.NodeCommandResult
		if len(resp.Kvs) > 0 && json.Unmarshal(resp.Kvs[0].Value, &res) == nil && answers(res, epoch) {
			return res, nil
		}
		rev = resp.Header.Revision
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// answers reports whether res is the final answer to a command this epoch
// wrote: an agent's refusal of an older leader's version is not.
func answers(res keys.NodeCommandResult, epoch int64) bool {
	return res.Done && (!res.Refused || res.Epoch >= epoch)
}

// stepCmd runs a node command for a job step; the agent's progress goes to
// the job log (at most 20 lines) and the master's log.
func (m *Master) stepCmd(ctx context.Context, sc *jobs.StepContext, step string, c nodeCmd) (json.RawMessage, error) {
	c.ID = stepCmdID(sc, step, c.Instance.UUID)
	c.JobID, c.Step = sc.JobID, fmt.Sprintf("%d/%s", sc.Op, step)
	n := 0
	c.Progress = func(p string) {
		sc.Log.Info("node_command_progress", "node", c.Node, "cmd", c.ID, "progress", p)
		if n < 20 {
			sc.Logf("%s on %s: %s", c.Kind, c.Node, p)
			n++
		}
	}
	return m.runNodeCmd(ctx, sc.Epoch, c)
}
