package jobs

import "testing"

func TestLockSetConflicts(t *testing.T) {
	l := newLockSet()
	l.take(1, []string{"node/a"})
	cases := []struct {
		name    string
		id      uint64
		locks   []string
		blocked map[string]bool
		want    bool
	}{
		{"same lock other job", 2, []string{"node/a"}, nil, true},
		{"same lock same job", 1, []string{"node/a"}, nil, false},
		{"free lock", 2, []string{"node/b"}, nil, false},
		{"no locks", 2, nil, nil, false},
		{"cluster while something held", 2, []string{LockCluster}, nil, true},
		{"promised to an earlier job", 2, []string{"node/b"}, map[string]bool{"node/b": true}, true},
		{"earlier job waits for cluster", 2, []string{"node/c"}, map[string]bool{LockCluster: true}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := l.conflicts(c.id, c.locks, c.blocked); got != c.want {
				t.Fatalf("conflicts = %v, want %v", got, c.want)
			}
		})
	}
	l.release(1)
	l.take(3, []string{LockCluster})
	if !l.conflicts(4, []string{"node/z"}, nil) {
		t.Fatal("cluster lock does not exclude node locks")
	}
	if l.conflicts(4, nil, nil) {
		t.Fatal("a job without locks conflicts with the cluster lock")
	}
}
