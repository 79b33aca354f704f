package allocator

// exclusionFilter: instances sharing an exclusion tag (cluster tag
// htools:iextags:PREFIX) may not have their primaries on one node.
type exclusionFilter struct{}

func (exclusionFilter) Name() string { return "exclusion-tags" }

func (exclusionFilter) Check(st *state, i, n int, r role) string {
	if r != rolePrimary || st.conflicts[n] == 0 || st.conflicts[n] <= st.prevConflicts(n) {
		return ""
	}
	for _, t := range st.iexcl[i] {
		if st.excl[n][t] > 1 {
			return "another primary has exclusion tag " + t
		}
	}
	return "exclusion tag conflict"
}
