package workload

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// A pid file holds "PID STARTTIME": the start time (field 22 of
// /proc/PID/stat) tells a reused pid from the writer.

func procStart(pid int) (string, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); start time is field 22.
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return "", false
	}
	return f[19], true
}

func writePid(path string, pid int) error {
	start, _ := procStart(pid)
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d %s\n", pid, start)), 0o644); err != nil {
		return fmt.Errorf("workload: pid file: %w", err)
	}
	return nil
}

func readPid(path string) (int, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, "", fmt.Errorf("workload: pid file %s: %q", path, b)
	}
	pid, err := strconv.Atoi(f[0])
	return pid, f[1], err
}

func alive(pid int, start string) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	s, ok := procStart(pid)
	return ok && s == start
}
