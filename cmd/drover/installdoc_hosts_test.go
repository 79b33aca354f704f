package main

// The three "hosts" of TestInstallDocThreeHosts. Each host is a network
// namespace (its own eno1, a bridge br0 holding it and the host's address,
// as docs/install.md §2 sets up), a UTS namespace (hostname hvN) and a
// mount namespace in which /etc, /var/lib, /usr/local and /root are
// overlays of the machine's own (writes land in the test's directory), so
// the guide's commands run with its real paths and change nothing outside.
// The hosts' eno1s are veth pairs to a bridge in a fourth namespace (the
// LAN). Nothing is created in the machine's own network namespace.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/drover-project/drover/floatip/netnslab"
)

// docHost is one host: the process holding its namespaces.
type docHost struct {
	name   string // hv1
	addr   string // 10.0.0.11
	netns  string // the network namespace's name (unique per run)
	holder *exec.Cmd
	work   string // the reader's working directory (drover binary, dist/)
}

// docLab is the LAN and its hosts.
type docLab struct {
	t     *testing.T
	dir   string // test directory: overlays' upper layers, state, logs
	state string // what the stand-ins read: hosts/NAME (holder pid), logs/
	lan   string
	hosts []*docHost
}

var overlaidDirs = []string{"/etc", "/var/lib", "/usr/local", "/root"}

func labIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newDocLab builds the LAN and n hosts hv1..hvN at 10.0.0.11.. .
func newDocLab(t *testing.T, dir string, n int) *docLab {
	l := &docLab{t: t, dir: dir, state: filepath.Join(dir, "state"), lan: fmt.Sprintf("idoc%d-lan", os.Getpid())}
	for _, d := range []string{"hosts", "logs", "pids"} {
		if err := os.MkdirAll(filepath.Join(l.state, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(l.destroy)
	labIP(t, "netns", "add", l.lan)
	labIP(t, "-n", l.lan, "link", "add", "lan0", "type", "bridge")
	labIP(t, "-n", l.lan, "link", "set", "lan0", "up")
	for i := 1; i <= n; i++ {
		h := &docHost{name: fmt.Sprintf("hv%d", i), addr: fmt.Sprintf("10.0.0.%d", 10+i)}
		h.netns = fmt.Sprintf("idoc%d-%s", os.Getpid(), h.name)
		l.hosts = append(l.hosts, h)
		labIP(t, "netns", "add", h.netns)
		port := "p" + h.name
		labIP(t, "-n", l.lan, "link", "add", port, "type", "veth", "peer", "name", "eno1", "netns", h.netns)
		labIP(t, "-n", l.lan, "link", "set", port, "master", "lan0", "up")
		for _, a := range [][]string{
			{"link", "set", "lo", "up"},
			{"link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"},
			{"link", "set", "eno1", "master", "br0", "up"},
			{"addr", "add", h.addr + "/24", "dev", "br0"},
			{"link", "set", "br0", "up"},
		} {
			labIP(t, append([]string{"-n", h.netns}, a...)...)
		}
		l.startHolder(h)
	}
	return l
}

// startHolder starts the process that holds h's mount and UTS namespaces.
func (l *docLab) startHolder(h *docHost) {
	t := l.t
	var sb strings.Builder
	fmt.Fprintf(&sb, "set -e\nhostname %s\n", h.name)
	for _, d := range overlaidDirs {
		base := filepath.Join(l.dir, "fs", h.name, strings.ReplaceAll(strings.Trim(d, "/"), "/", "_"))
		for _, s := range []string{"up", "work"} {
			if err := os.MkdirAll(filepath.Join(base, s), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		fmt.Fprintf(&sb, "mount -t overlay overlay -o lowerdir=%s,upperdir=%s/up,workdir=%s/work %s\n", d, base, base, d)
	}
	sb.WriteString("echo ready\nexec sleep infinity\n")
	cmd := exec.Command("ip", "netns", "exec", h.netns, "unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", sb.String())
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.holder = cmd
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("host %s: namespaces not set up: %q %s", h.name, line, stderr.String())
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	if err := os.WriteFile(filepath.Join(l.state, "hosts", h.name), []byte(pid), 0o644); err != nil {
		t.Fatal(err)
	}
	h.work = filepath.Join(l.dir, "work", h.name)
	if err := os.MkdirAll(h.work, 0o755); err != nil {
		t.Fatal(err)
	}
}

// hostEnv is the environment of a root shell on host name.
func (l *docLab) hostEnv(name string) []string {
	return []string{
		"PATH=" + filepath.Join(l.dir, "standin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "LC_ALL=C", "TERM=dumb",
		envStandinState + "=" + l.state, envStandinHost + "=" + name,
	}
}

// run runs script with bash on host h, in the reader's working directory.
func (l *docLab) run(h *docHost, script string) (string, error) {
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(h.holder.Process.Pid), "-m", "-u", "-n", "--",
		"bash", "-e", "-c", "cd "+h.work+"\n"+script)
	cmd.Env = l.hostEnv(h.name)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustRun runs script on h and fails the test if it fails.
func (l *docLab) mustRun(h *docHost, what, script string) string {
	l.t.Helper()
	out, err := l.run(h, script)
	if err != nil {
		l.t.Fatalf("%s on %s: %v\n--- script\n%s--- output\n%s%s", what, h.name, err, script, out, l.logs())
	}
	return out
}

// logs returns the daemons' logs for a failure message.
func (l *docLab) logs() string {
	var sb strings.Builder
	files, _ := filepath.Glob(filepath.Join(l.state, "logs", "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		fmt.Fprintf(&sb, "--- %s (tail)\n%s\n", filepath.Base(f), b)
	}
	return sb.String()
}

// destroy kills every process of the hosts' namespaces (the daemons, the
// holders) and removes the namespaces; it runs even when the test failed.
func (l *docLab) destroy() {
	for _, h := range l.hosts {
		netnslab.KillAll(h.netns)
		if h.holder != nil {
			_ = h.holder.Wait()
		}
		_ = exec.Command("ip", "netns", "del", h.netns).Run()
	}
	_ = exec.Command("ip", "netns", "del", l.lan).Run()
}
