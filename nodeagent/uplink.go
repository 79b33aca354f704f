package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/master/store"
)

// uplink tracks the node's connectivity to its group's ping targets
// (docs/ha.md, "Connectivity"), as Pacemaker's ping resource does: a probe
// round every api.UplinkProbeInterval; the uplink is lost after
// api.UplinkLostAfter rounds in a row in which no target answered, and up
// again at the first answer.
type uplink struct {
	mu     sync.Mutex
	st     *api.UplinkStatus // nil: no targets
	misses int
}

// status is a copy of the current state (nil without targets).
func (u *uplink) status() *api.UplinkStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.st == nil {
		return nil
	}
	c := *u.st
	c.Targets = slices.Clone(c.Targets)
	c.Reachable = slices.Clone(c.Reachable)
	return &c
}

// observe records one probe round of targets, reachable being those that
// answered, and reports whether the uplink's state (ok, lost, no targets)
// or its targets changed.
func (u *uplink) observe(targets []string, reachable map[string]bool, now time.Time) (changed bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(targets) == 0 {
		changed, u.st, u.misses = u.st != nil, nil, 0
		return changed
	}
	var got []string
	for _, t := range targets {
		if reachable[t] {
			got = append(got, t)
		}
	}
	if len(got) > 0 {
		u.misses = 0
	} else {
		u.misses++
	}
	// A new set of targets starts as up: the first rounds decide.
	ok := u.misses < api.UplinkLostAfter
	if u.st == nil || !slices.Equal(u.st.Targets, targets) {
		u.st = &api.UplinkStatus{Targets: slices.Clone(targets), OK: ok, Since: now}
		changed = true
	} else if u.st.OK != ok {
		u.st.OK, u.st.Since = ok, now
		changed = true
	}
	u.st.Reachable, u.st.CheckedAt = got, now
	return changed
}

// pingTargetsRead is how often an agent reads its group's ping targets.
const pingTargetsRead = 30 * time.Second

// uplinkLoop probes the group's ping targets until ctx ends and asks for a
// status publish whenever the uplink's state changes.
func (a *Agent) uplinkLoop(ctx context.Context, cli *clientv3.Client) {
	p := newPinger()
	defer p.close()
	var targets []string
	var readAt time.Time
	for ctx.Err() == nil {
		if time.Since(readAt) >= pingTargetsRead {
			if t, err := readPingTargets(ctx, cli, a.cfg.Credentials.Node); err != nil {
				a.log.Debug("ping_targets_read_failed", "err", err)
			} else {
				if !slices.Equal(t, targets) {
					a.log.Info("ping_targets", "targets", t)
				}
				targets, readAt = t, time.Now()
			}
		}
		var reachable map[string]bool
		if len(targets) > 0 {
			var err error
			reachable, err = p.round(targets, time.Second)
			if err != nil {
				a.log.Warn("uplink_probe_failed", "err", err)
			}
		}
		if a.uplink.observe(targets, reachable, time.Now().UTC()) {
			if st := a.uplink.status(); st != nil {
				level := slog.LevelInfo
				if !st.OK {
					level = slog.LevelWarn
				}
				a.log.Log(ctx, level, "uplink", "ok", st.OK, "targets", st.Targets, "reachable", st.Reachable)
			}
			a.kickPublish()
		}
		select {
		case <-ctx.Done():
		case <-time.After(api.UplinkProbeInterval):
		}
	}
}

// readPingTargets reads the ping targets of node's group from its node
// record and the cluster record (the agent may read both). The reads are
// serializable: the member the agent talks to answers them itself (no round
// to the etcd leader), which is enough for a setting read every 30 s by
// every node.
func readPingTargets(ctx context.Context, cli *clientv3.Client, node string) ([]string, error) {
	var nrec keys.NodeRecord
	if err := getLocal(ctx, cli, keys.NodeKey(node), &nrec); err != nil {
		return nil, err
	}
	var crec keys.ClusterRecord
	if err := getLocal(ctx, cli, keys.ClusterKey, &crec); err != nil {
		return nil, err
	}
	group := nrec.Group
	if group == "" {
		group = "default"
	}
	return crec.PingTargets[group], nil
}

// getLocal reads key with a serializable read and decodes it into v.
func getLocal(ctx context.Context, cli *clientv3.Client, key string, v any) error {
	ctx, cancel := store.WithTimeout(ctx)
	defer cancel()
	resp, err := cli.Get(ctx, key, clientv3.WithSerializable())
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("get %s: %w", key, store.ErrNotFound)
	}
	return json.Unmarshal(resp.Kvs[0].Value, v)
}
