package allocator

import "fmt"

// diskFilter: every node holding the instance's disks must have the space.
type diskFilter struct{}

func (diskFilter) Name() string { return "disk" }

func (diskFilter) Check(st *state, i, n int, _ role) string {
	in := &st.inst[i]
	if st.held(n) || !in.Template.usesLocalDisk() || st.fDsk[n] >= 0 {
		return ""
	}
	return fmt.Sprintf("needs %d MiB disk, %d MiB free", in.Disk, st.fDsk[n]+in.Disk)
}
