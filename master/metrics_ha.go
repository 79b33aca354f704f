package master

import "github.com/drover-project/drover/api"

// observeFence counts a fence action (metrics: docs/metrics.md).
func (m *Master) observeFence(res api.FenceResult) {}
