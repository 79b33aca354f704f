package nodeagent

import "sync"

// lastGood keeps the last value a periodic read returned, so that a few
// failed reads in a row (a slow call on a loaded node) publish it instead of
// an error. The limit-th failure in a row, a failure before any success, and
// a failure the caller calls fatal are reported.
type lastGood[T any] struct {
	mu    sync.Mutex
	val   T
	have  bool
	fails int
}

// observe records one read and returns what to publish: v on success, the
// last good value while a failure is tolerated (true), or v and false when
// err is to be reported.
func (l *lastGood[T]) observe(v T, err error, limit int, fatal bool) (T, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.val, l.have, l.fails = v, true, 0
		return v, true
	}
	l.fails++
	if fatal || !l.have || l.fails >= limit {
		return v, false
	}
	return l.val, true
}

// failures is the current count of failed reads in a row.
func (l *lastGood[T]) failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fails
}
