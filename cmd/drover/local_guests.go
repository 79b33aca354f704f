package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/drover-project/drover/nodeagent/procfs"
)

// Guests of a local cluster's private libvirtds. libvirt starts each QEMU
// guest and each LXC controller (libvirt_lxc) daemonized, in a mount
// namespace of its own: neither a child of libvirtd nor in its namespace, so
// stopping the daemon leaves them running. They are found two ways:
//   - libvirt's pid files (run/libvirt/{qemu,lxc}/NAME.pid), read through the
//     daemon's namespace (/proc/VIRTLOGD/root) while it exists;
//   - when the daemons are gone (the supervisor was killed): processes whose
//     command line (QEMU: its disk files) or mounts (an LXC container's root)
//     name the cluster's storage directory, and their libvirt_lxc parent.

// daemonGuestPIDs reads the pid files of the guests of the private libvirtd
// in ddir (nothing when its namespace holder, virtlogd, is gone).
func daemonGuestPIDs(ddir string) []int {
	holder, err := readPid(filepath.Join(ddir, "virtlogd.pid"))
	if err != nil || !processAlive(holder) {
		return nil
	}
	var out []int
	for _, drv := range []string{"qemu", "lxc"} {
		files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/root/run/libvirt/%s/*.pid", holder, drv))
		for _, f := range files {
			if filepath.Base(f) == "driver.pid" {
				continue
			}
			if pid, err := readPid(f); err == nil && processAlive(pid) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// clusterDaemonDirs lists the node libvirtd directories of the local
// cluster in dir that exist (nodes are numbered from 1 without gaps).
func clusterDaemonDirs(dir string) []string {
	var out []string
	for i := 1; ; i++ {
		d := nodeDaemonDir(dir, i)
		if _, err := os.Stat(d); err != nil {
			return out
		}
		out = append(out, d)
	}
}

// storageGuestPIDs finds the processes that use the storage directory of
// the local cluster in dir: QEMU guests by their command line, LXC
// containers by their mounts (with their libvirt_lxc controller).
func storageGuestPIDs(dir string) []int {
	storage := []byte(filepath.Join(dir, "storage") + "/")
	self := os.Getpid()
	var out []int
	for _, pid := range procfs.PIDs() {
		if pid == self {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		exe := string(bytes.SplitN(cmdline, []byte{0}, 2)[0])
		switch {
		case strings.HasSuffix(exe, "drover") || strings.HasSuffix(exe, ".test"):
			// The agents name the storage directory too; they are not guests.
		case strings.HasPrefix(filepath.Base(exe), "qemu-system") && bytes.Contains(cmdline, storage):
			out = append(out, pid)
		default:
			mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
			if err != nil || !containerRootIn(mi, storage) {
				continue
			}
			out = append(out, pid)
			if pp := procfs.Parent(pid); pp > 1 && strings.HasSuffix(procExe(pp), "libvirt_lxc") {
				out = append(out, pp)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// containerRootIn reports whether a mountinfo's "/" mount is a bind of a
// directory under storage (an LXC container's root filesystem).
func containerRootIn(mountinfo, storage []byte) bool {
	for _, l := range bytes.Split(mountinfo, []byte{'\n'}) {
		f := bytes.Fields(l)
		if len(f) > 4 && string(f[4]) == "/" && bytes.HasPrefix(f[3], storage) {
			return true
		}
	}
	return false
}

// killGuests kills pids and their descendants (SIGKILL) and waits up to
// wait for them to be gone; it returns those still alive.
func killGuests(pids []int, wait time.Duration) []int {
	all := procfs.WithDescendants(pids)
	for _, p := range all {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	deadline := time.Now().Add(wait)
	for {
		var left []int
		for _, p := range all {
			if processAlive(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func procExe(pid int) string {
	s, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return s
}
