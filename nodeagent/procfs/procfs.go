// Package procfs reads the Linux process table from /proc: the pids, a
// process's stat fields and its parent, and a process tree. Used where drover
// must find and kill processes itself (self-fencing, the libvirtd harness,
// `local down`).
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PIDs lists every process id in /proc.
func PIDs() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Stat returns the fields of /proc/PID/stat after the command name: [0] is the
// state, [1] the parent pid, [19] the start time in clock ticks.
func Stat(pid int) ([]string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return nil, false
	}
	return strings.Fields(s[i+2:]), true
}

// Parent is the parent pid of pid, 0 when unknown.
func Parent(pid int) int {
	f, ok := Stat(pid)
	if !ok || len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}

// WithDescendants returns pids and every process descended from them, each
// parent before its children.
func WithDescendants(pids []int) []int {
	if len(pids) == 0 {
		return nil
	}
	children := map[int][]int{}
	for _, p := range PIDs() {
		if pp := Parent(p); pp > 0 {
			children[pp] = append(children[pp], p)
		}
	}
	seen := map[int]bool{}
	var out []int
	queue := append([]int(nil), pids...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}
