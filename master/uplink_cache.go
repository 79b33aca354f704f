package master

import "context"

// anyUplinkLost reports whether an agent's last status says its uplink is
// lost; it reads the state cache (no etcd read but the cache's sync) and
// answers true when the cache cannot tell, so that the caller looks itself.
func (m *Master) anyUplinkLost(ctx context.Context) bool {
	if !m.cache.sync(ctx, m.client) {
		return true
	}
	m.cache.mu.RLock()
	defer m.cache.mu.RUnlock()
	for _, st := range m.cache.status {
		if st.Uplink != nil && !st.Uplink.OK {
			return true
		}
	}
	return false
}
