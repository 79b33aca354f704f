package jobs

// LockCluster is the lock that excludes every other lock.
const LockCluster = "cluster"

// lockSet is the leader's in-memory lock table. Locks are exclusive; the
// cluster lock conflicts with every lock. It is owned by the executor loop.
type lockSet struct {
	held map[string]uint64 // lock -> job id
}

func newLockSet() *lockSet { return &lockSet{held: map[string]uint64{}} }

// conflicts reports whether names conflict with locks held by another job or
// with the names in blocked (locks promised to earlier jobs that wait).
func (l *lockSet) conflicts(id uint64, names []string, blocked map[string]bool) bool {
	for _, n := range names {
		if h, ok := l.held[n]; ok && h != id {
			return true
		}
		if blocked[n] || blocked[LockCluster] {
			return true
		}
		if n == LockCluster && (len(blocked) > 0 || l.heldByOthers(id)) {
			return true
		}
	}
	if h, ok := l.held[LockCluster]; ok && h != id && len(names) > 0 {
		return true
	}
	return false
}

func (l *lockSet) heldByOthers(id uint64) bool {
	for _, h := range l.held {
		if h != id {
			return true
		}
	}
	return false
}

// take records names as held by id (callers checked conflicts, or are
// resuming jobs that held them before).
func (l *lockSet) take(id uint64, names []string) {
	for _, n := range names {
		l.held[n] = id
	}
}

// release frees every lock held by id.
func (l *lockSet) release(id uint64) {
	for n, h := range l.held {
		if h == id {
			delete(l.held, n)
		}
	}
}
