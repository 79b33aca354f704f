package master

import (
	"context"
	"log/slog"
	"time"
)

// FailoverNode runs the failover controller's step for a fenced node (as
// the liveness controller calls it), for tests.
func (m *Master) FailoverNode(ctx context.Context, node string, log *slog.Logger) error {
	_, epoch := m.Leading()
	fence, err := m.fenceOf(ctx, epoch)
	if err != nil {
		return err
	}
	return m.failoverNode(ctx, fence, node, log)
}

// ReprotectOnce runs one pass of the reprotect controller with threshold
// after, for tests; it returns the instances it submitted a job for.
func (m *Master) ReprotectOnce(ctx context.Context, after time.Duration) []string {
	return m.reprotectOnce(ctx, after, time.Now(), map[string]uint64{})
}

// StartFileBMC starts a test BMC whose "hardware" is a file holding 1 or
// 0 (ctl_liveness_late_ipmi_test.go).
var StartFileBMC = startFileBMC

// FailbackState is the failback controller's state between passes.
type FailbackState = failbackState

// NewFailbackState is a new controller state, for tests.
func NewFailbackState() *FailbackState { return newFailbackState() }

// FailbackOnce runs one pass of the failback controller at now, for tests;
// it returns the instances it submitted a failback for.
func (m *Master) FailbackOnce(ctx context.Context, st *FailbackState, now time.Time) ([]string, error) {
	_, epoch := m.Leading()
	fence, err := m.fenceOf(ctx, epoch)
	if err != nil {
		return nil, err
	}
	return m.failbackOnce(ctx, fence, st, now), nil
}

// DRBDOutdateOnce runs one pass of the drbd-outdate controller, for tests.
func (m *Master) DRBDOutdateOnce(ctx context.Context) error {
	_, epoch := m.Leading()
	fence, err := m.fenceOf(ctx, epoch)
	if err != nil {
		return err
	}
	return m.outdateOnce(ctx, fence)
}
