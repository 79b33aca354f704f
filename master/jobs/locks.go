package jobs

import (
	"cmp"
	"slices"
	"strings"
)

// LockCluster is the lock that excludes every other lock.
const LockCluster = "cluster"

// sharedPrefix marks a shared lock: "shared:node/n1". A lock without it is
// exclusive (the form every opcode used before modes existed).
const sharedPrefix = "shared:"

// Shared is the shared form of lock name: any number of jobs may hold a
// lock shared at once, and none while another holds it exclusively.
func Shared(name string) string { return sharedPrefix + name }

// parseLock splits a lock into its name and mode.
func parseLock(l string) (name string, shared bool) {
	if n, ok := strings.CutPrefix(l, sharedPrefix); ok {
		return n, true
	}
	return l, false
}

// lockLevel is a lock's rank in the total order of locks: the cluster lock,
// the allocator's lock of all nodes, node locks, instance locks, then any
// other. Within a level, locks are ordered by name.
func lockLevel(name string) int {
	switch {
	case name == LockCluster:
		return 0
	case name == "node-alloc":
		return 1
	case strings.HasPrefix(name, "node/"):
		return 2
	case strings.HasPrefix(name, "instance/"):
		return 3
	}
	return 4
}

// SortLocks puts locks in the total order (level, name) and drops
// duplicates; a lock wanted both shared and exclusive is kept exclusive. A
// job takes all its locks in one step of the executor, in this order, or
// none: no job ever waits while it holds a lock, so two jobs cannot
// deadlock, and the order makes a job's lock list the same however its
// opcodes listed them.
func SortLocks(locks []string) []string {
	mode := map[string]bool{} // name -> shared
	for _, l := range locks {
		n, shared := parseLock(l)
		if prev, ok := mode[n]; ok {
			shared = shared && prev
		}
		mode[n] = shared
	}
	names := make([]string, 0, len(mode))
	for n := range mode {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(lockLevel(a), lockLevel(b)), cmp.Compare(a, b))
	})
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if mode[n] {
			out[i] = Shared(n)
		}
	}
	return out
}

// lockSet is a table of locks held by jobs: the leader's in-memory lock
// table (owned by the executor loop), or the locks promised to jobs that
// wait. The exclusive cluster lock conflicts with every lock.
type lockSet struct {
	excl   map[string]uint64          // lock -> job
	shared map[string]map[uint64]bool // lock -> jobs
	byJob  map[uint64]map[string]bool // job -> locks (as given)
}

func newLockSet() *lockSet {
	return &lockSet{excl: map[string]uint64{}, shared: map[string]map[uint64]bool{}, byJob: map[uint64]map[string]bool{}}
}

// conflicts reports whether job id may not take locks now: one of them
// conflicts with a lock another job holds, or with a lock promised to an
// earlier job that waits (blocked, may be nil).
func (l *lockSet) conflicts(id uint64, locks []string, blocked *lockSet) bool {
	return l.conflictsHeld(id, locks) || (blocked != nil && blocked.conflictsHeld(id, locks))
}

func (l *lockSet) conflictsHeld(id uint64, locks []string) bool {
	if len(locks) == 0 {
		return false
	}
	if h, ok := l.excl[LockCluster]; ok && h != id {
		return true
	}
	for _, lk := range locks {
		n, shared := parseLock(lk)
		if n == LockCluster && !shared && l.heldByOthers(id) {
			return true
		}
		if h, ok := l.excl[n]; ok && h != id {
			return true
		}
		if !shared && l.sharedByOthers(n, id) {
			return true
		}
	}
	return false
}

func (l *lockSet) sharedByOthers(name string, id uint64) bool {
	for h := range l.shared[name] {
		if h != id {
			return true
		}
	}
	return false
}

func (l *lockSet) heldByOthers(id uint64) bool {
	for h := range l.byJob {
		if h != id {
			return true
		}
	}
	return false
}

// take records locks as held by id (callers checked conflicts, or are
// resuming jobs that held them before).
func (l *lockSet) take(id uint64, locks []string) {
	if len(locks) == 0 {
		return
	}
	if l.byJob[id] == nil {
		l.byJob[id] = map[string]bool{}
	}
	for _, lk := range locks {
		l.byJob[id][lk] = true
		n, shared := parseLock(lk)
		if !shared {
			l.excl[n] = id
			continue
		}
		if l.shared[n] == nil {
			l.shared[n] = map[uint64]bool{}
		}
		l.shared[n][id] = true
	}
}

// release frees every lock held by id.
func (l *lockSet) release(id uint64) {
	for lk := range l.byJob[id] {
		n, shared := parseLock(lk)
		if !shared {
			if l.excl[n] == id {
				delete(l.excl, n)
			}
			continue
		}
		delete(l.shared[n], id)
		if len(l.shared[n]) == 0 {
			delete(l.shared, n)
		}
	}
	delete(l.byJob, id)
}
