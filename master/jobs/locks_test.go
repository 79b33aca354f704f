package jobs

import (
	"slices"
	"testing"
)

func TestLockSetConflicts(t *testing.T) {
	l := newLockSet()
	l.take(1, []string{"node/a"})
	l.take(5, []string{Shared("node/s")})
	promised := newLockSet()
	promised.take(7, []string{"node/b"})
	waitsCluster := newLockSet()
	waitsCluster.take(8, []string{LockCluster})
	waitsShared := newLockSet()
	waitsShared.take(9, []string{Shared("node/t")})
	cases := []struct {
		name    string
		id      uint64
		locks   []string
		blocked *lockSet
		want    bool
	}{
		{"same lock other job", 2, []string{"node/a"}, nil, true},
		{"same lock same job", 1, []string{"node/a"}, nil, false},
		{"free lock", 2, []string{"node/b"}, nil, false},
		{"no locks", 2, nil, nil, false},
		{"cluster while something held", 2, []string{LockCluster}, nil, true},
		{"promised to an earlier job", 2, []string{"node/b"}, promised, true},
		{"earlier job waits for cluster", 2, []string{"node/c"}, waitsCluster, true},
		{"shared next to shared", 2, []string{Shared("node/s")}, nil, false},
		{"exclusive next to shared", 2, []string{"node/s"}, nil, true},
		{"shared next to exclusive", 2, []string{Shared("node/a")}, nil, true},
		{"shared promised, shared wanted", 2, []string{Shared("node/t")}, waitsShared, false},
		{"shared promised, exclusive wanted", 2, []string{"node/t"}, waitsShared, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := l.conflicts(c.id, c.locks, c.blocked); got != c.want {
				t.Fatalf("conflicts = %v, want %v", got, c.want)
			}
		})
	}
	l.release(1)
	l.release(5)
	if l.conflicts(2, []string{"node/a", "node/s"}, nil) {
		t.Fatal("released locks still conflict")
	}
	l.take(3, []string{LockCluster})
	if !l.conflicts(4, []string{"node/z"}, nil) {
		t.Fatal("cluster lock does not exclude node locks")
	}
	if l.conflicts(4, nil, nil) {
		t.Fatal("a job without locks conflicts with the cluster lock")
	}
	l.release(3)
	l.take(6, []string{Shared("node/x"), Shared("node/x")})
	l.take(7, []string{Shared("node/x")})
	l.release(6)
	if !l.conflicts(8, []string{"node/x"}, nil) {
		t.Fatal("releasing one holder of a shared lock freed it for an exclusive one")
	}
}

func TestSortLocksTotalOrder(t *testing.T) {
	got := SortLocks([]string{"instance/b", Shared("node/n2"), "node/n1", "instance/a", LockCluster, "node-alloc",
		Shared("node/n1"), "tag/x", "instance/a"})
	want := []string{LockCluster, "node-alloc", "node/n1", Shared("node/n2"), "instance/a", "instance/b", "tag/x"}
	if !slices.Equal(got, want) {
		t.Fatalf("SortLocks = %v\nwant %v", got, want)
	}
}
