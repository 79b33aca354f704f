package nodeagent

import (
	"errors"
	"sync"

	"github.com/drover-project/drover/api"
)

// hvFailuresBeforeDown is how many status publishes in a row may fail to
// read the hypervisor's resources (a call that times out while libvirtd
// holds a domain's job lock for a migration, a busy host) before the node
// reports its hypervisor as failed. A driver that reports itself unhealthy
// (errHypervisorUnhealthy: libvirtd's connection lost, the fake set down) is
// reported at once.
const hvFailuresBeforeDown = 3

// errHypervisorUnhealthy marks a Resources failure that comes from the
// driver's own health report rather than from one call.
var errHypervisorUnhealthy = errors.New("the hypervisor driver reports itself unhealthy")

// hvHealth turns the outcome of each publish's Resources call into what the
// node reports: the master refuses to place or migrate instances onto a node
// whose hypervisor is not OK, so one slow call must not say so.
type hvHealth struct {
	mu       sync.Mutex
	last     api.NodeResources
	haveLast bool
	failures int
}

// observe records one Resources outcome and returns the resources to
// publish, whether the hypervisor is OK, and the last error ("" none).
func (h *hvHealth) observe(res api.NodeResources, err error) (api.NodeResources, bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.last, h.haveLast, h.failures = res, true, 0
		return res, true, ""
	}
	h.failures++
	if errors.Is(err, errHypervisorUnhealthy) || !h.haveLast || h.failures >= hvFailuresBeforeDown {
		return res, false, err.Error()
	}
	return h.last, true, err.Error()
}

// failuresInARow is the current count of failed reads.
func (h *hvHealth) failuresInARow() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failures
}
