package allocator

import "fmt"

// memoryFilter: a running instance's primary must have the memory for it.
type memoryFilter struct{}

func (memoryFilter) Name() string { return "memory" }

func (memoryFilter) Check(st *state, i, n int, r role) string {
	in := &st.inst[i]
	if r != rolePrimary || n == st.prevP || !usesMemory(in.RunState) || st.fMem[n] >= 0 {
		return ""
	}
	return fmt.Sprintf("needs %d MiB memory, %d MiB free", in.Mem, st.fMem[n]+in.Mem)
}
