package allocator

// nodeStateFilter: offline and drained nodes, and nodes of unallocable groups,
// take no new instances.
type nodeStateFilter struct{}

func (nodeStateFilter) Name() string { return "node-state" }

func (nodeStateFilter) Check(st *state, _, n int, _ role) string {
	switch {
	case st.held(n):
		return ""
	case st.offline[n]:
		return "node is offline"
	case st.drain[n]:
		return "node is drained"
	case st.unalloc[n]:
		return "node group is unallocable"
	}
	return ""
}
