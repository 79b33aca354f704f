package master

import (
	"context"
	"errors"
	"time"

	"github.com/drover-project/drover/master/jobs"
	"github.com/drover-project/drover/master/store"
)

// archiveLoop archives old finished jobs every ArchiveInterval.
func (m *Master) archiveLoop(ctx context.Context, fence store.Fence) error {
	t := time.NewTicker(m.cfg.ArchiveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		n, err := jobs.Archive(ctx, m.client, fence, m.cfg.JobArchiveAge, time.Now())
		switch {
		case errors.Is(err, store.ErrFenced):
			return jobs.ErrLeadershipLost
		case err != nil && ctx.Err() == nil:
			m.log.Warn("archive_failed", "error", err)
		case n > 0:
			m.log.Info("jobs_archived", "count", n)
		}
	}
}
