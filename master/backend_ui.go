package master

// Changed implements ui.Notifier: the returned channel is closed at the
// next change under drover's etcd prefix, as the state cache's watch sees
// it (nil before the cache first loaded).
func (m *Master) Changed() <-chan struct{} {
	m.cache.mu.RLock()
	defer m.cache.mu.RUnlock()
	return m.cache.changed
}
