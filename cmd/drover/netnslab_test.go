package main

// A small network lab for the floating address tests: a LAN (a bridge in a
// network namespace of its own) and hosts, each a network namespace whose
// eth0 is a veth port of that bridge. Nothing is created in the machine's
// own namespace. The test looks into a host's namespace from a thread of
// its own (setns on a locked OS thread), so it can dial from the client's
// namespace and read a host's addresses without starting a process.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type nsLab struct {
	t      *testing.T
	prefix string // of every namespace name: unique per test process
	lan    string
	hosts  map[string]*nsHost
}

// nsHost is one host: namespace ns with eth0 at addr (a /24 of the LAN).
type nsHost struct {
	name, ns, addr string
}

func nsLabIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newNSLab(t *testing.T, tag string) *nsLab {
	l := &nsLab{t: t, prefix: fmt.Sprintf("%s%d-", tag, os.Getpid()), hosts: map[string]*nsHost{}}
	l.lan = l.prefix + "lan"
	t.Cleanup(l.destroy)
	nsLabIP(t, "netns", "add", l.lan)
	nsLabIP(t, "-n", l.lan, "link", "add", "lan0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
	nsLabIP(t, "-n", l.lan, "link", "set", "lan0", "up")
	return l
}

// addHost makes host name with eth0 at addr/24 on the LAN.
func (l *nsLab) addHost(name, addr string) *nsHost {
	t := l.t
	h := &nsHost{name: name, ns: l.prefix + name, addr: addr}
	l.hosts[name] = h
	nsLabIP(t, "netns", "add", h.ns)
	port := "p" + name
	nsLabIP(t, "-n", l.lan, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
	nsLabIP(t, "-n", l.lan, "link", "set", port, "master", "lan0", "up")
	for _, a := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", addr + "/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
	} {
		nsLabIP(t, append([]string{"-n", h.ns}, a...)...)
	}
	return h
}

// start runs argv inside h's namespace (ip netns exec execs it: the
// returned process is argv's own), its output to logFile.
func (h *nsHost) start(t *testing.T, logFile string, argv ...string) *exec.Cmd {
	t.Helper()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// in runs f on an OS thread that is in h's network namespace: sockets f
// makes (dials, netlink reads of net.Interface*) are the host's. The
// thread goes back to its own namespace afterwards (a thread that cannot
// is dropped: its goroutine ends locked), so that no thread of the test
// process stays in the lab, the main one included (which Go never drops).
func (h *nsHost) in(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(self)
		fd, err := unix.Open("/run/netns/"+h.ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", h.ns, err)
			return
		}
		err = f()
		if unix.Setns(self, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// holds reports whether any device of h carries address a.
func (h *nsHost) holds(a netip.Addr) (bool, error) {
	var found bool
	err := h.in(func() error {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return err
		}
		for _, x := range addrs {
			if n, ok := x.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a {
					found = true
				}
			}
		}
		return nil
	})
	return found, err
}

// mac is the MAC of h's eth0.
func (h *nsHost) mac() string {
	var mac string
	_ = h.in(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err == nil {
			mac = ifi.HardwareAddr.String()
		}
		return err
	})
	return mac
}

// neighMAC is the MAC h's neighbour table has for a ("" if none or not
// usable: FAILED, INCOMPLETE).
func (h *nsHost) neighMAC(a string) string {
	out, _ := exec.Command("ip", "-n", h.ns, "neigh", "show", a).Output()
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// dial connects from h to addr within limit.
func (h *nsHost) dial(addr string, limit time.Duration, use func(net.Conn) error) error {
	return h.in(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(limit))
		return use(c)
	})
}

// destroy kills what still runs in the lab's namespaces and removes them.
func (l *nsLab) destroy() {
	for _, h := range l.hosts {
		for range 50 {
			out, _ := exec.Command("ip", "netns", "pids", h.ns).Output()
			pids := strings.Fields(string(out))
			if len(pids) == 0 {
				break
			}
			for _, p := range pids {
				if n, err := strconv.Atoi(p); err == nil {
					_ = syscall.Kill(n, syscall.SIGKILL)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = exec.Command("ip", "netns", "del", h.ns).Run()
	}
	_ = exec.Command("ip", "netns", "del", l.lan).Run()
}
