package nodeagent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drover-project/drover/nodeagent/procfs"
)

// guestProc is a guest's process as found from libvirt's pid file.
type guestProc struct {
	name string // domain name (the pid file's base name)
	pid  int
}

// killGuests kills, with SIGKILL, the process named by every <domain>.pid
// file in dirs and all its descendants (an LXC guest's pid file names its
// libvirt_lxc controller, whose child is the container's init), then waits
// until deadline for them to be gone. It returns the domains whose guest
// process is gone (killed now or found dead), and an error naming those that
// still run at the deadline. A pid file whose process started after the
// file was written names a reused pid and is skipped.
func killGuests(dirs []string, deadline time.Time, log *slog.Logger) ([]string, error) {
	var procs []guestProc
	var gone []string
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".pid")
			if name == "driver" {
				continue // the hypervisor driver's own lock (libvirtd's pid)
			}
			pid, ok := guestPid(f)
			if !ok {
				gone = append(gone, name)
				continue
			}
			procs = append(procs, guestProc{name: name, pid: pid})
		}
	}
	var targets []int
	for _, p := range procs {
		targets = append(targets, p.pid)
	}
	targets = slices.DeleteFunc(procfs.WithDescendants(targets), protected)
	for _, pid := range targets {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			log.Error("self_fence_kill_failed", "pid", pid, "err", err)
		}
	}
	for _, p := range procs {
		log.Warn("self_fence_killed", "instance", p.name, "pid", p.pid)
	}
	var alive []string
	for {
		alive = alive[:0]
		for _, pid := range targets {
			if pidRunning(pid) {
				alive = append(alive, strconv.Itoa(pid))
			}
		}
		if len(alive) == 0 || !time.Now().Before(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(alive) > 0 {
		return gone, fmt.Errorf("guest processes still running after SIGKILL: %s", strings.Join(alive, ","))
	}
	for _, p := range procs {
		gone = append(gone, p.name)
	}
	return gone, nil
}

// protected reports processes self-fencing must never kill: this agent and
// its ancestors, and the hypervisor daemons themselves (a pid file that
// names one is not a guest's).
func protected(pid int) bool {
	for p := os.Getpid(); p > 1; {
		if p == pid {
			return true
		}
		if p = procfs.Parent(p); p == 0 {
			break
		}
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	switch strings.TrimSpace(string(comm)) {
	case "libvirtd", "virtqemud", "virtlxcd", "virtlogd":
		return true
	}
	return false
}

// guestPid reads a pid file and reports its pid if that process runs and
// started no later than the file was written (else the pid was reused).
func guestPid(file string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || !pidRunning(pid) {
		return 0, false
	}
	fi, err := os.Stat(file)
	if err != nil {
		return 0, false
	}
	if st, ok := procStart(pid); ok && st.After(fi.ModTime().Add(2*time.Second)) {
		return 0, false
	}
	return pid, true
}

// procStat returns the fields of /proc/PID/stat after the command name
// (field 3, the state, is index 0).
// pidRunning reports whether pid exists and is not a zombie (a zombie holds
// no memory and runs nothing: a killed guest whose parent is hung stays one).
func pidRunning(pid int) bool {
	f, ok := procfs.Stat(pid)
	return ok && len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// procStart is when pid started (field 22 of /proc/PID/stat, clock ticks
// after boot, at the usual 100 ticks a second).
func procStart(pid int) (time.Time, bool) {
	f, ok := procfs.Stat(pid)
	if !ok || len(f) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	boot, ok := bootTime()
	if !ok {
		return time.Time{}, false
	}
	return boot.Add(time.Duration(ticks) * 10 * time.Millisecond), true
}

func bootTime() (time.Time, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(sec, 0), err == nil
		}
	}
	return time.Time{}, false
}
