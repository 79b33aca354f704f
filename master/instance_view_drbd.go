package master

import (
	"context"
	"slices"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/master/keys"
)

// readDRBDView is readClusterView for the controllers that look only at
// drbd instances (drbd-rejoin, reprotect): the records of the drbd
// instances, every node and its published states, no domains. With
// 20,000 instances of which few are drbd, a pass copies a few records
// instead of every record and every domain state (docs/scale.md).
func (m *Master) readDRBDView(ctx context.Context) (*clusterView, error) {
	if m.cache.sync(ctx, m.client) {
		return m.cache.viewOf(isDRBDRecord), nil
	}
	v, err := m.readClusterViewEtcd(ctx)
	if err != nil {
		return nil, err
	}
	v.instances = slices.DeleteFunc(v.instances, func(r keys.InstanceRecord) bool { return !isDRBDRecord(&r) })
	v.domains = map[string]*keys.DomainStatus{}
	return v, nil
}

func isDRBDRecord(r *keys.InstanceRecord) bool { return r.DiskTemplate == api.DiskTemplateDRBD }
