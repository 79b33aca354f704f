package nodeagent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
)

// defaultStatusHeartbeat is how often an unchanged status is written
// anyway: the lease, not the status key's age, says whether the node lives
// (docs/scale.md, "Node statuses"), so this only keeps published_at
// (the node's "last seen") from getting very old.
const defaultStatusHeartbeat = 5 * time.Minute

// statusWriter remembers the last status the publish loop wrote, to skip
// writes that would change only published_at (and the uplink's
// checked_at).
type statusWriter struct {
	last []byte    // the last written status without published_at
	at   time.Time // when it was written
}

// due reports whether st must be written at now: the first write under
// this lease, a change, or the heartbeat.
func (w *statusWriter) due(st keys.NodeStatus, now time.Time, heartbeat time.Duration) (bool, []byte) {
	st.PublishedAt = time.Time{}
	if st.Uplink != nil { // the time of the last probe round is no change either
		u := *st.Uplink
		u.CheckedAt = time.Time{}
		st.Uplink = &u
	}
	// Free memory and free file-disk space drift all the time (page cache,
	// the host's other files): a drift within a grain is no change either
	// (the volume group's figures, which disk creation checks, stay exact).
	st.Resources.MemoryFreeMiB = coarse(st.Resources.MemoryFreeMiB, st.Resources.MemoryTotalMiB)
	st.Resources.DiskFreeMiB = coarse(st.Resources.DiskFreeMiB, st.Resources.DiskTotalMiB)
	b, err := json.Marshal(st)
	if err != nil || w.last == nil || !bytes.Equal(b, w.last) || now.Sub(w.at) >= heartbeat {
		return true, b
	}
	return false, b
}

// coarse rounds a free figure down to a grain of 1/200 of its total (at
// least 16 MiB), for the writer's comparison only.
func coarse(free, total int64) int64 {
	grain := max(total/200, 16)
	return free - free%grain
}

// publishLoop reads the status at once and then every PublishInterval and
// writes it when it changed, or StatusHeartbeat after the last write
// (sooner again after a failure), apart from the renewals: a publish that
// hangs on a stalled member must not delay a keep-alive. At 1,000 nodes a
// write every PublishInterval was 67 etcd writes a second for nothing new.
func (a *Agent) publishLoop(ctx context.Context, id clientv3.LeaseID) {
	var w statusWriter
	for ctx.Err() == nil {
		next := a.cfg.PublishInterval
		st, err := a.nodeStatus(ctx)
		if err == nil {
			var due bool
			var b []byte
			if due, b = w.due(st, time.Now(), a.cfg.StatusHeartbeat); due {
				if err = a.putStatus(ctx, id, st); err == nil {
					w.last, w.at = b, time.Now()
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			a.log.Warn("publish_failed", "err", err)
			next = a.timing.Renew
		}
		select {
		case <-ctx.Done():
		case <-time.After(next):
		case <-a.pubKick:
		}
	}
}

// putStatus writes st at the node's status key, bound to lease id.
func (a *Agent) putStatus(ctx context.Context, id clientv3.LeaseID, st keys.NodeStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := a.cli.Put(pctx, keys.NodeStatusKey(a.cfg.Credentials.Node), string(b), clientv3.WithLease(id)); err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	return nil
}
