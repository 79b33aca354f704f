package libvirtd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drover-project/drover/nodeagent/procfs"
)

// ErrNotRoot and ErrMissing explain why a private libvirtd cannot start here.
var (
	ErrNotRoot = errors.New("libvirtd: a private libvirtd needs root (mount namespaces, tmpfs mounts)")
	ErrMissing = errors.New("libvirtd: libvirtd or virtlogd not installed (apt-get install libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-daemon-driver-lxc qemu-system-x86 util-linux)")
)

// Options describe one private daemon.
type Options struct {
	// Dir is a directory the daemon owns: config, sockets, logs, pid files.
	// Keep it short: unix socket paths are limited to 107 bytes.
	Dir string
	// ListenAddr and TCPPort make libvirtd listen on TCP (no auth: loopback
	// only, for tests and local clusters). Empty ListenAddr: unix socket only.
	ListenAddr string
	TCPPort    int
	// HostUUID must differ between daemons that migrate to each other.
	// Default: random.
	HostUUID string
	// LXC unmounts /sys/fs/cgroup/unified inside the namespace, which
	// libvirt 9's LXC driver needs on hosts with mixed cgroup v1/v2.
	LXC bool
	// CapsCache, when set, is a directory shared between daemons (and
	// runs) that keeps libvirt's QEMU capabilities cache: each fresh daemon
	// would otherwise probe QEMU for ~10 s on its first QEMU call. libvirt
	// revalidates the cached files against the QEMU and libvirtd binaries.
	CapsCache string
	// StartTimeout bounds the wait for the socket to answer; default 60 s.
	StartTimeout time.Duration
	// Supervise restarts libvirtd in the same namespace whenever it exits
	// without Stop (a crash, kill -9), as systemd's Restart=on-failure
	// does for the packaged daemon: running guests outlive libvirtd, and
	// the new daemon re-attaches them (supervise.go).
	Supervise bool
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

// Daemon is a running private libvirtd.
type Daemon struct {
	opts Options
	log  *slog.Logger

	mu         sync.Mutex
	holder     *exec.Cmd     // virtlogd, which holds the namespace
	holderDone chan struct{} // closed when it exits
	libvirtd   *exec.Cmd
	exited     chan struct{} // closed when libvirtd exits
	mntNS      string        // "mnt:[4026...]" of the namespace
	stopped    bool
	startMu    sync.Mutex // serialises (re)starts of libvirtd
	restarts   int        // by the supervisor (supervise.go)
	supDone    chan struct{}
}

// Check reports whether a private libvirtd can start here: root, binaries.
func Check() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	for _, b := range []string{"libvirtd", "virtlogd", "unshare", "nsenter"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMissing, b, err)
		}
	}
	return nil
}

// Start writes the configuration under opts.Dir, starts virtlogd and libvirtd
// in a new mount namespace and waits until libvirtd answers on its socket.
func Start(ctx context.Context, opts Options) (*Daemon, error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("libvirtd: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("libvirtd: %w", err)
	}
	opts.Dir = dir
	if len(filepath.Join(dir, "run", "libvirt-sock-ro")) > 100 {
		return nil, fmt.Errorf("libvirtd: directory %q too long for a unix socket path", dir)
	}
	if opts.HostUUID == "" {
		opts.HostUUID = randomUUID()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{opts: opts, log: lg.With("libvirtd_dir", dir)}
	if err := d.writeConfig(); err != nil {
		return nil, err
	}
	if err := d.startHolder(); err != nil {
		return nil, err
	}
	if err := d.startLibvirtd(ctx); err != nil {
		d.Stop()
		return nil, err
	}
	if opts.Supervise {
		d.supDone = make(chan struct{})
		go d.supervise()
	}
	return d, nil
}

// SocketPath is libvirtd's read-write unix socket.
func (d *Daemon) SocketPath() string { return filepath.Join(d.opts.Dir, "run", "libvirt-sock") }

// Dir is the daemon's directory.
func (d *Daemon) Dir() string { return d.opts.Dir }

// GuestPidDirs are the directories, seen from the host, where this daemon's
// QEMU and LXC drivers keep their guests' pid files: its /run/libvirt is a
// tmpfs of its own namespace, reached through the namespace holder's root
// (nil when the holder is gone). Self-fencing kills the guests named there.
func (d *Daemon) GuestPidDirs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.holder == nil || d.holder.Process == nil {
		return nil
	}
	root := fmt.Sprintf("/proc/%d/root/run/libvirt", d.holder.Process.Pid)
	return []string{root + "/qemu", root + "/lxc"}
}

// HostUUID is the daemon's host_uuid.
func (d *Daemon) HostUUID() string { return d.opts.HostUUID }

// URI is the unix-socket URI of a driver of this daemon: driver is "qemu",
// "lxc" or "test" (qemu+unix:///system?socket=..., test+unix:///default?...).
func (d *Daemon) URI(driver string) string {
	path := "/system"
	if driver == "test" {
		path = "/default"
	}
	return driver + "+unix://" + path + "?socket=" + d.SocketPath()
}

// TCPURI is the TCP URI of a driver of this daemon ("" without TCP).
func (d *Daemon) TCPURI(driver string) string {
	if d.opts.ListenAddr == "" {
		return ""
	}
	path := "/system"
	if driver == "test" {
		path = "/default"
	}
	return fmt.Sprintf("%s+tcp://%s:%d%s", driver, d.opts.ListenAddr, d.port(), path)
}

func (d *Daemon) port() int {
	if d.opts.TCPPort == 0 {
		return 16509
	}
	return d.opts.TCPPort
}

// PID is libvirtd's process id (0 when it is not running).
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.libvirtd == nil || d.libvirtd.Process == nil {
		return 0
	}
	select {
	case <-d.exited:
		return 0
	default:
	}
	return d.libvirtd.Process.Pid
}

// LogPath is libvirtd's log file.
func (d *Daemon) LogPath() string { return filepath.Join(d.opts.Dir, "libvirtd.log") }

func (d *Daemon) writeConfig() error {
	dir := d.opts.Dir
	for _, sub := range []string{"run", "log", "cache/qemu/capabilities", "etc/qemu/networks/autostart", "etc/lxc", "etc/storage", "etc/nwfilter"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("libvirtd: %w", err)
		}
	}
	// A copy of /etc/libvirt without domains, networks to autostart or
	// storage pools, so the private daemon touches nothing on the host.
	var conf strings.Builder
	fmt.Fprintf(&conf, "unix_sock_dir = %q\nhost_uuid = %q\n", filepath.Join(dir, "run"), d.opts.HostUUID)
	fmt.Fprintf(&conf, "auth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\nlisten_tls = 0\n")
	if d.opts.ListenAddr != "" {
		fmt.Fprintf(&conf, "listen_tcp = 1\nlisten_addr = %q\ntcp_port = \"%d\"\nauth_tcp = \"none\"\n", d.opts.ListenAddr, d.port())
	} else {
		conf.WriteString("listen_tcp = 0\n")
	}
	fmt.Fprintf(&conf, "log_outputs = \"3:file:%s\"\n", d.LogPath())
	// max_workers is kept small: the tests run many daemons on 2 cores.
	conf.WriteString("min_workers = 2\nmax_workers = 8\n")
	files := map[string]string{
		"libvirtd.conf": conf.String(),
		// Root, no security driver: private daemons run test guests whose
		// files live in the test's own directories.
		"etc/qemu.conf":     "user = \"root\"\ngroup = \"root\"\nsecurity_driver = \"none\"\nremember_owner = 0\n",
		"etc/lxc.conf":      "security_driver = \"none\"\n",
		"etc/virtlogd.conf": "",
		"etc/libvirt.conf":  "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("libvirtd: write %s: %w", name, err)
		}
	}
	if d.opts.CapsCache != "" {
		copyXML(d.opts.CapsCache, filepath.Join(dir, "cache/qemu/capabilities"))
	}
	nw, err := filepath.Glob("/etc/libvirt/nwfilter/*.xml")
	if err == nil {
		for _, f := range nw {
			if b, err := os.ReadFile(f); err == nil {
				_ = os.WriteFile(filepath.Join(dir, "etc/nwfilter", filepath.Base(f)), b, 0o644)
			}
		}
	}
	return nil
}

// startHolder starts virtlogd in a fresh mount namespace prepared as LAB.md
// describes; its namespace is where libvirtd (and every (re)start of it) runs.
func (d *Daemon) startHolder() error {
	dir := d.opts.Dir
	var script strings.Builder
	script.WriteString("set -e\n")
	if d.opts.LXC {
		script.WriteString("if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi\n")
	}
	for _, m := range []string{"/run/libvirt", "/var/lib/libvirt"} {
		fmt.Fprintf(&script, "mkdir -p %s\nmount -t tmpfs tmpfs %s\n", m, m)
	}
	fmt.Fprintf(&script, "mkdir -p /var/cache/libvirt\nmount --bind %q /var/cache/libvirt\n", filepath.Join(dir, "cache"))
	fmt.Fprintf(&script, "mkdir -p /var/log/libvirt /etc/libvirt\nmount --bind %q /etc/libvirt\nmount --bind %q /var/log/libvirt\n",
		filepath.Join(dir, "etc"), filepath.Join(dir, "log"))
	script.WriteString("mkdir -p /var/lib/libvirt/qemu /var/lib/libvirt/lxc /var/cache/libvirt/qemu\n")
	fmt.Fprintf(&script, "exec virtlogd -f /etc/libvirt/virtlogd.conf -p %q\n", filepath.Join(dir, "virtlogd.pid"))

	stderr, err := os.Create(filepath.Join(dir, "virtlogd.stderr"))
	if err != nil {
		return fmt.Errorf("libvirtd: %w", err)
	}
	defer stderr.Close()
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script.String())
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	hdone, err := startPinned(cmd)
	if err != nil {
		return fmt.Errorf("libvirtd: start namespace: %w", err)
	}
	d.holder, d.holderDone = cmd, hdone
	// Wait until the process is virtlogd in its own namespace (sh has exec'd).
	self, _ := os.Readlink("/proc/self/ns/mnt")
	deadline := time.Now().Add(10 * time.Second)
	for {
		ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid))
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid))
		if ns != "" && ns != self && strings.HasSuffix(exe, "/virtlogd") {
			d.mntNS = ns
			return nil
		}
		if time.Now().After(deadline) || exited(cmd.Process.Pid) {
			_ = cmd.Process.Kill()
			<-hdone
			out, _ := os.ReadFile(stderr.Name())
			return fmt.Errorf("libvirtd: namespace with virtlogd did not come up: %s", strings.TrimSpace(string(out)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// startLibvirtd runs libvirtd (foreground) inside the holder's namespace and
// waits for it to answer.
func (d *Daemon) startLibvirtd(ctx context.Context) error {
	args := []string{"-t", strconv.Itoa(d.holder.Process.Pid), "-m", "--", "libvirtd", "-f", filepath.Join(d.opts.Dir, "libvirtd.conf"), "-p", filepath.Join(d.opts.Dir, "libvirtd.pid")}
	if d.opts.ListenAddr != "" {
		args = append(args, "-l")
	}
	stderr, err := os.OpenFile(filepath.Join(d.opts.Dir, "libvirtd.stderr"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("libvirtd: %w", err)
	}
	defer stderr.Close()
	_ = os.Remove(d.SocketPath())
	cmd := exec.Command("nsenter", args...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	done, err := startPinned(cmd)
	if err != nil {
		return fmt.Errorf("libvirtd: start: %w", err)
	}
	d.mu.Lock()
	d.libvirtd, d.exited = cmd, done
	stopped := d.stopped
	d.mu.Unlock()
	if stopped {
		// Stop ran while this (supervisor's) start was under way.
		_ = cmd.Process.Kill()
		<-done
		return errors.New("libvirtd: stopped during start")
	}

	ctx, cancel := context.WithTimeout(ctx, d.opts.StartTimeout)
	defer cancel()
	for {
		if err := ping(ctx, d.SocketPath()); err == nil {
			d.log.Info("libvirtd_started", "pid", cmd.Process.Pid, "socket", d.SocketPath(), "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("libvirtd: exited during start-up (%s): %s", cmd.ProcessState, d.tail())
		case <-ctx.Done():
			return fmt.Errorf("libvirtd: no answer on %s after %s: %w: %s", d.SocketPath(), time.Since(start).Round(time.Millisecond), ctx.Err(), d.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail returns the end of the daemon's logs, for error messages.
func (d *Daemon) tail() string {
	var out []string
	for _, f := range []string{"libvirtd.stderr", "libvirtd.log"} {
		b, err := os.ReadFile(filepath.Join(d.opts.Dir, f))
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 1500 {
			b = b[len(b)-1500:]
		}
		out = append(out, f+": "+strings.TrimSpace(string(b)))
	}
	return strings.Join(out, "; ")
}

// Kill stops libvirtd abruptly (SIGKILL), leaving virtlogd, the namespace
// and running guests alone, as a crash would. Restart brings it back.
func (d *Daemon) Kill() error {
	d.mu.Lock()
	cmd, done := d.libvirtd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Kill()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("libvirtd: pid %d did not exit after SIGKILL", cmd.Process.Pid)
	}
}

// Restart starts libvirtd again in the same namespace (after Kill or a crash).
func (d *Daemon) Restart(ctx context.Context) error {
	d.startMu.Lock()
	defer d.startMu.Unlock()
	if err := d.Kill(); err != nil {
		return err
	}
	return d.startLibvirtd(ctx)
}

// Signal sends sig to libvirtd (SIGSTOP/SIGCONT simulate a hung daemon).
func (d *Daemon) Signal(sig syscall.Signal) error {
	pid := d.PID()
	if pid == 0 {
		return errors.New("libvirtd: not running")
	}
	return syscall.Kill(pid, sig)
}

// Stop kills libvirtd, virtlogd and every process left in the daemon's mount
// namespace (qemu, libvirt_lxc, dnsmasq) and the containers they ran. The
// namespace and its tmpfs mounts vanish with the last process.
func (d *Daemon) Stop() error {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil
	}
	d.stopped = true
	cmd, done := d.libvirtd, d.exited
	d.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	var errs []error
	// Every process in our namespace, plus their descendants (containers
	// run in namespaces of their own below libvirt_lxc).
	for range 3 {
		pids := d.namespacePIDs()
		if d.holder != nil && !exited(d.holder.Process.Pid) {
			pids = append(pids, d.holder.Process.Pid)
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range procfs.WithDescendants(pids) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d.holderDone != nil {
		<-d.holderDone
	}
	if d.supDone != nil {
		<-d.supDone
	}
	if d.opts.CapsCache != "" {
		_ = os.MkdirAll(d.opts.CapsCache, 0o755)
		copyXML(filepath.Join(d.opts.Dir, "cache/qemu/capabilities"), d.opts.CapsCache)
	}
	if left := d.namespacePIDs(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("libvirtd: processes left in namespace: %v", left))
	}
	d.log.Info("libvirtd_stopped")
	return errors.Join(errs...)
}

// namespacePIDs lists live processes in the daemon's mount namespace.
func (d *Daemon) namespacePIDs() []int {
	if d.mntNS == "" {
		return nil
	}
	var out []int
	for _, p := range procfs.PIDs() {
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", p)); ns == d.mntNS && !exited(p) {
			out = append(out, p)
		}
	}
	return out
}

func randomUUID() string {
	var b [16]byte
	_, _ = io.ReadFull(rand.Reader, b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// copyXML copies *.xml files from one directory to another, each atomically
// (temporary file and rename), so concurrent daemons never read half a file.
func copyXML(from, to string) {
	files, _ := filepath.Glob(filepath.Join(from, "*.xml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		tmp, err := os.CreateTemp(to, ".caps*")
		if err != nil {
			return
		}
		_, werr := tmp.Write(b)
		cerr := tmp.Close()
		if werr != nil || cerr != nil || os.Rename(tmp.Name(), filepath.Join(to, filepath.Base(f))) != nil {
			_ = os.Remove(tmp.Name())
		}
	}
}

// startPinned starts cmd from an OS thread that stays alive (locked, idle)
// until cmd exits, and reaps it. The daemons get a parent-death signal
// (SIGKILL) so that they die with the process that started them; Linux sends
// it when the *thread* that forked them exits, and Go may end a thread when
// a goroutine that locked it returns without unlocking (as network-namespace
// code does). A dedicated thread avoids killing a daemon by accident.
func startPinned(cmd *exec.Cmd) (chan struct{}, error) {
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			errc <- err
			return
		}
		errc <- nil
		_ = cmd.Wait()
		close(done)
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return done, nil
}
