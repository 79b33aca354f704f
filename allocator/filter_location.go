package allocator

// locationFilter: a mirrored instance's primary and secondary must be in
// different failure domains (node tags matching a cluster tag
// htools:nlocation:PREFIX). A pair that already shared one may keep it.
type locationFilter struct{}

func (locationFilter) Name() string { return "failure-domain" }

func (locationFilter) Check(st *state, i, n int, r role) string {
	if r != roleSecondary {
		return ""
	}
	p := st.ipri[i]
	if !st.sharesLocation(p, n) || st.sharesLocation(st.prevP, st.prevS) {
		return ""
	}
	return "same failure domain as primary " + st.name[p]
}
