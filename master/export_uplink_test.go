package master

import (
	"context"
	"time"
)

// UplinkOnce runs one pass of the uplink controller with its own, fresh
// state and returns the instances it submitted migrations for.
func (m *Master) UplinkOnce(ctx context.Context, now time.Time) []string {
	return m.uplinkOnce(ctx, now, &uplinkState{pending: map[string]uint64{}, failed: map[string]time.Time{}})
}
