package nodeagent

import (
	"errors"

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
	res lastGood[api.NodeResources]
}

// observe records one Resources outcome and returns the resources to
// publish, whether the hypervisor is OK, and the last error ("" none).
func (h *hvHealth) observe(res api.NodeResources, err error) (api.NodeResources, bool, string) {
	res, ok := h.res.observe(res, err, hvFailuresBeforeDown, errors.Is(err, errHypervisorUnhealthy))
	if err != nil {
		return res, ok, err.Error()
	}
	return res, ok, ""
}

// failuresInARow is the current count of failed reads.
func (h *hvHealth) failuresInARow() int { return h.res.failures() }
