package master

import (
	"context"
	"time"

	"github.com/drover-project/drover/api"
)

// MaxWait caps WaitJob's timeout.
const MaxWait = 60 * time.Second

// SubmitJob implements api.Backend.
func (m *Master) SubmitJob(ctx context.Context, by api.Principal, sub api.JobSubmit) (uint64, error) {
	sub, err := m.expandMoves(ctx, sub)
	if err != nil {
		return 0, err
	}
	return m.queue.Submit(ctx, by, sub)
}

// GetJob implements api.Backend.
func (m *Master) GetJob(ctx context.Context, id uint64) (*api.Job, error) {
	return m.queue.Get(ctx, id)
}

// ListJobs implements api.Backend.
func (m *Master) ListJobs(ctx context.Context, f api.JobFilter) ([]api.Job, error) {
	return m.queue.List(ctx, f)
}

// CancelJob implements api.Backend.
func (m *Master) CancelJob(ctx context.Context, id uint64) error {
	return m.queue.Cancel(ctx, id)
}

// WaitJob implements api.Backend.
func (m *Master) WaitJob(ctx context.Context, id uint64, knownState api.JobState, knownLog int, timeout time.Duration) (*api.Job, error) {
	if timeout <= 0 || timeout > MaxWait {
		timeout = MaxWait
	}
	return m.queue.Wait(ctx, id, knownState, knownLog, timeout)
}
