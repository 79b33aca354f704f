package allocator

import "fmt"

// n1Filter: a node must still be able to start the primaries of any one failed
// peer whose secondaries it holds (N+1). A node that already failed may not
// get worse but is not blamed for the past.
type n1Filter struct{}

func (n1Filter) Name() string { return "n+1" }

func (n1Filter) Check(st *state, _, n int, _ role) string {
	if !st.failN1(n) || st.wasFailingN1(n) {
		return ""
	}
	return fmt.Sprintf("N+1: %d MiB free, %d MiB needed for a failed peer", st.fMem[n], st.rMem[n])
}
