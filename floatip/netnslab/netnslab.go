// Package netnslab is a small network lab for tests of floating addresses:
// a LAN (a bridge in a network namespace of its own) and hosts, each a
// network namespace whose eth0 is a veth port of that bridge. Nothing is
// created in the machine's own namespace. A test looks into a host's
// namespace from a thread of its own (setns on a locked OS thread), so it
// can dial from a client's namespace and read a host's addresses without
// starting a process. It needs root and iproute2.
package netnslab

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

// Lab is the LAN and its hosts; New removes it when the test ends.
type Lab struct {
	t      *testing.T
	prefix string // of every namespace name: unique per test process
	lan    string
	Hosts  map[string]*Host
}

// Host is one host: namespace ns with eth0 at addr (a /24 of the LAN).
type Host struct {
	Name, NS, Addr string
}

// ipOrFail runs ip with args or fails the test.
func ipOrFail(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// New makes an empty LAN. tag (a few letters) and the test process's pid
// prefix the names of the lab's namespaces.
func New(t *testing.T, tag string) *Lab {
	l := &Lab{t: t, prefix: fmt.Sprintf("%s%d-", tag, os.Getpid()), Hosts: map[string]*Host{}}
	l.lan = l.prefix + "lan"
	t.Cleanup(l.Destroy)
	ipOrFail(t, "netns", "add", l.lan)
	ipOrFail(t, "-n", l.lan, "link", "add", "lan0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
	ipOrFail(t, "-n", l.lan, "link", "set", "lan0", "up")
	return l
}

// AddHost makes host name with eth0 at addr/24 on the LAN.
func (l *Lab) AddHost(name, addr string) *Host {
	t := l.t
	h := &Host{Name: name, NS: l.prefix + name, Addr: addr}
	l.Hosts[name] = h
	ipOrFail(t, "netns", "add", h.NS)
	port := "p" + name
	ipOrFail(t, "-n", l.lan, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	ipOrFail(t, "-n", l.lan, "link", "set", port, "master", "lan0", "up")
	for _, a := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", addr + "/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
	} {
		ipOrFail(t, append([]string{"-n", h.NS}, a...)...)
	}
	return h
}

// Start runs argv inside h's namespace (ip netns exec execs it: the
// returned process is argv's own), its output to logFile.
func (h *Host) Start(t *testing.T, logFile string, argv ...string) *exec.Cmd {
	t.Helper()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// In runs f on an OS thread that is in h's network namespace: sockets f
// makes (dials, netlink reads of net.Interface*) are the host's. The
// thread goes back to its own namespace afterwards (a thread that cannot
// is dropped: its goroutine ends locked), so that no thread of the test
// process stays in the lab, the main one included (which Go never drops).
func (h *Host) In(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(self)
		fd, err := unix.Open("/run/netns/"+h.NS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", h.NS, err)
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

// Holds reports whether any device of h carries address a.
func (h *Host) Holds(a netip.Addr) (bool, error) {
	var found bool
	err := h.In(func() error {
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

// MAC is the MAC of h's device dev.
func (h *Host) MAC(dev string) string {
	var mac string
	_ = h.In(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err == nil {
			mac = ifi.HardwareAddr.String()
		}
		return err
	})
	return mac
}

// NeighMAC is the MAC h's neighbour table has for a ("" if none or not
// usable: FAILED, INCOMPLETE).
func (h *Host) NeighMAC(a string) string {
	out, _ := exec.Command("ip", "-n", h.NS, "neigh", "show", a).Output()
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// Dial connects from h to addr within limit.
func (h *Host) Dial(addr string, limit time.Duration, use func(net.Conn) error) error {
	return h.In(func() error {
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

// KillAll SIGKILLs every process in network namespace ns until none is
// left (at most 5 s).
func KillAll(ns string) {
	for range 50 {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return
		}
		for _, p := range pids {
			if n, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(n, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Destroy kills what still runs in the lab's namespaces and removes them.
func (l *Lab) Destroy() {
	for _, h := range l.Hosts {
		KillAll(h.NS)
		_ = exec.Command("ip", "netns", "del", h.NS).Run()
	}
	_ = exec.Command("ip", "netns", "del", l.lan).Run()
}

// SetLink sets host name's port on the LAN's bridge up or down: a cable
// that is cut and plugged in again (the host's own eth0 stays up).
func (l *Lab) SetLink(name string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	if out, err := exec.Command("ip", "-n", l.lan, "link", "set", "p"+name, state).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set p%s %s: %v: %s", name, state, err, out)
	}
	return nil
}
