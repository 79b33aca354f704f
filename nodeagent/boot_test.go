package nodeagent_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/hv/libvirt"
	"github.com/drover-project/drover/nodeagent/libvirtd"
	"github.com/drover-project/drover/templates"
)

// The real template of the end-to-end tests: minbase bookworm plus what
// booting needs (templates.BootInclude), built once with mmdebstrap (or
// debootstrap) and cached between runs in a templates.Store under
// CacheDir/templates, keyed by suite, variant and sorted package list: the
// same key and store as the templates package's own integration test, so
// either test's build serves both.
const (
	realSuite   = "bookworm"
	realVariant = "minbase"
)

func realTemplate(t testing.TB) (*templates.Store, templates.Manifest, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		hvtest.SkipOrFail(t, "needs root (template install: ownership, device nodes; private libvirtd)")
	}
	hvtest.NeedBinaries(t, "tar", "zstd", "mkfs.ext4")
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		hvtest.NeedBinaries(t, "debootstrap")
	}
	inc := slices.Sorted(slices.Values(templates.BootInclude))
	key := sha256.Sum256([]byte(realSuite + "|" + realVariant + "|" + strings.Join(inc, ",")))
	name := "test-" + realSuite + "-" + hex.EncodeToString(key[:])[:12]
	dir := filepath.Join(hvtest.CacheDir(t), "templates")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock := flock(t, filepath.Join(dir, ".nodeagent-build.lock"))
	defer unlock()
	s, err := templates.OpenStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.Get(name); err == nil {
		if p, _ := s.BlobPath(m.Digest()); p != "" {
			if _, err := os.Stat(p); err == nil {
				t.Logf("cached template %s (%d MB, built %s)", m.Ref(), m.Size>>20, m.BuildDate)
				return s, m, p
			}
		}
	} else if !errors.Is(err, templates.ErrNotFound) {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work-nodeagent")
	os.RemoveAll(work)
	defer os.RemoveAll(work)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	a, err := templates.Build(ctx, templates.BuildOptions{
		Name: name, Suite: realSuite, Variant: realVariant, Include: inc, WorkDir: work, Logger: hvtest.Logger(t),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Add(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built template %s in %s: %d MB", m.Ref(), time.Since(start).Round(time.Second), m.Size>>20)
	return s, m, a.Path
}

func flock(t testing.TB, path string) func() {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
}

// blobServer serves the store's blobs the way the master's API does
// (GET /api/v1/templates/blobs/{digest}, bearer token required) and counts
// the downloads.
func blobServer(t testing.TB, s *templates.Store, token string) (url string, downloads *atomic.Int64) {
	t.Helper()
	downloads = &atomic.Int64{}
	inner := http.StripPrefix("/api/v1/templates", templates.Handler(s, nil))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"code":"unauthorized","message":"bad token"}`, http.StatusUnauthorized)
			return
		}
		if strings.Contains(r.URL.Path, "/blobs/") {
			downloads.Add(1)
		}
		inner.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), downloads
}

func newLibvirtDriver(t testing.TB, kind hv.Kind, uri string) *libvirt.Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := libvirt.New(ctx, libvirt.Options{Kind: kind, URI: uri, Logger: hvtest.Logger(t)})
	if err != nil {
		t.Fatalf("libvirt.New(%s): %v", uri, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestBootKVM is the end-to-end test: a Debian template built with
// mmdebstrap becomes a file-disk instance through NodeCommands to a real
// agent, which fetches it over HTTP (bearer token, sha256 checked), installs
// it and defines a QEMU (TCG) domain in a private libvirtd; the guest boots
// systemd to a login prompt that shows the hostname drover gave it.
func TestBootKVM(t *testing.T) {
	hvtest.NeedBinaries(t, "qemu-system-x86_64")
	s, m, _ := realTemplate(t)
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	drv := newLibvirtDriver(t, hv.KindKVM, dmn.URI("qemu"))
	if libvirt.ProbeKVM() != nil && drv.DomainType() != "qemu" {
		t.Fatalf("kvm unusable here but domain type %q", drv.DomainType())
	}
	url, downloads := blobServer(t, s, "node-token")
	h := startHarness(t, drv, harnessOpts{APIToken: "node-token"})
	inst := keys.InstanceRecord{
		Name: "web1", UUID: uuid.NewString(), PrimaryNode: "n1", OS: m.Name, OSVersion: m.Version, OSDigest: m.Digest(),
		Hypervisor: "kvm", DiskTemplate: "file", Disks: []keys.DiskSpec{{SizeMiB: 1024}},
		NICs: []keys.NICSpec{{MAC: "aa:00:00:00:02:01"}}, VCPUs: 1, MemoryMiB: 512, AdminUp: true,
		SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDrover0test0key0only0for0tests00000000000 test@drover"},
	}
	t0 := time.Now()
	c := h.send(keys.CmdInstanceCreate, inst, nil, func(c *keys.NodeCommand) {
		c.TemplateDigest, c.TemplateURLs = m.Digest(), []string{url}
	})
	r := h.wait(c.ID, 5*time.Minute)
	if r.Error != nil {
		t.Fatalf("create: %v", r.Error)
	}
	created := time.Since(t0)
	if downloads.Load() != 1 {
		t.Errorf("template downloaded %d times, want 1", downloads.Load())
	}
	t.Logf("create (fetch %d MB + install + define): %s; output %s", m.Size>>20, created.Round(time.Millisecond), r.Output)
	h.run(keys.CmdInstanceStart, inst, nil, 2*time.Minute)
	started := time.Now()
	h.waitDomain("web1", keys.DomainRunning, 10*time.Second)

	want := "web1 login:"
	log := filepath.Join(h.storage, "instances", "web1", "console.log")
	var text string
	deadline := time.Now().Add(240 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(log)
		text = string(b)
		if strings.Contains(text, want) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(text, want) {
		t.Fatalf("console never showed %q within 240 s; end of console:\n%s", want, tail(text, 3000))
	}
	t.Logf("guest boot (start to %q on the serial console): %s", want, time.Since(started).Round(100*time.Millisecond))
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "Debian GNU/Linux") || strings.Contains(line, want) {
			t.Logf("console: %s", strings.TrimSpace(line))
		}
	}
	// Through the agent's console command as the master would call it.
	r = h.run("instance.console", inst, nil, 30*time.Second)
	if !strings.Contains(string(r.Output), want) {
		t.Errorf("console command output lacks %q: %.300s", want, r.Output)
	}
	// A second create on the node reuses the cached template (no download).
	inst2 := inst
	inst2.Name, inst2.UUID, inst2.NICs = "web2", uuid.NewString(), []keys.NICSpec{{MAC: "aa:00:00:00:02:02"}}
	c = h.send(keys.CmdInstanceCreate, inst2, nil, func(c *keys.NodeCommand) {
		c.TemplateDigest, c.TemplateURLs = m.Digest(), []string{url}
	})
	if r := h.wait(c.ID, 5*time.Minute); r.Error != nil {
		t.Fatalf("create web2: %v", r.Error)
	}
	if downloads.Load() != 1 {
		t.Errorf("template downloaded again (%d downloads)", downloads.Load())
	}
	h.run(keys.CmdInstanceRemove, inst2, nil, time.Minute)
	// shutdown: the ACPI power button, acted on by systemd-logind (the
	// template has D-Bus): the guest powers itself off, which its kernel
	// says on the console ("reboot: Power down"); a destroy after the
	// timeout would not print it. Then remove leaves nothing.
	t1 := time.Now()
	h.run(keys.CmdInstanceShutdown, inst, keys.ShutdownParams{TimeoutSeconds: 120}, 3*time.Minute)
	t.Logf("shutdown took %s", time.Since(t1).Round(100*time.Millisecond))
	h.waitDomain("web1", keys.DomainStopped, 10*time.Second)
	if con, _ := os.ReadFile(log); !strings.Contains(string(con), "reboot: Power down") {
		t.Errorf("the guest did not power itself off on shutdown; console ends with:\n%s", tail(string(con), 2000))
	}
	h.run(keys.CmdInstanceRemove, inst, nil, time.Minute)
	if _, err := os.Stat(filepath.Join(h.storage, "instances", "web1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("files left after remove: %v", err)
	}
}

// TestBootLXC runs the same template as an LXC container: the container's
// init sees the hostname drover gave it, both in its /etc/hostname and as
// its UTS hostname.
func TestBootLXC(t *testing.T) {
	s, m, _ := realTemplate(t)
	dmn := hvtest.StartDaemon(t, libvirtd.Options{LXC: true})
	drv := newLibvirtDriver(t, hv.KindLXC, dmn.URI("lxc"))
	url, _ := blobServer(t, s, "node-token")
	h := startHarness(t, drv, harnessOpts{APIToken: "node-token"})
	inst := keys.InstanceRecord{
		Name: "ct1", UUID: uuid.NewString(), PrimaryNode: "n1", OS: m.Name, OSVersion: m.Version, OSDigest: m.Digest(),
		Hypervisor: "lxc", DiskTemplate: "file", Disks: []keys.DiskSpec{{SizeMiB: 1024}},
		VCPUs: 1, MemoryMiB: 256, AdminUp: true,
	}
	t0 := time.Now()
	c := h.send(keys.CmdInstanceCreate, inst, nil, func(c *keys.NodeCommand) {
		c.TemplateDigest, c.TemplateURLs = m.Digest(), []string{url}
	})
	if r := h.wait(c.ID, 5*time.Minute); r.Error != nil {
		t.Fatalf("create: %v", r.Error)
	}
	t.Logf("create (fetch + install into a root directory + define): %s", time.Since(t0).Round(time.Millisecond))
	t1 := time.Now()
	h.run(keys.CmdInstanceStart, inst, nil, 2*time.Minute)
	h.waitDomain("ct1", keys.DomainRunning, 10*time.Second)
	t.Logf("container start: %s", time.Since(t1).Round(time.Millisecond))

	var pid int
	h.waitFor(30*time.Second, "the container's init", func() bool {
		pid = containerInit(t, "ct1")
		return pid > 0
	})
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/etc/hostname", pid))
	if err != nil || strings.TrimSpace(string(b)) != "ct1" {
		t.Fatalf("container's /etc/hostname as its init sees it: %q %v", b, err)
	}
	var uts string
	h.waitFor(60*time.Second, "the container's UTS hostname", func() bool {
		out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-u", "hostname").Output()
		uts = strings.TrimSpace(string(out))
		return err == nil && uts == "ct1"
	})
	t.Logf("container init pid %d: /etc/hostname %q, UTS hostname %q", pid, strings.TrimSpace(string(b)), uts)
	// And systemd's getty on the container console greets with it.
	var con string
	h.waitFor(120*time.Second, "ct1 login: on the container console", func() bool {
		r := h.run("instance.console", inst, nil, 30*time.Second)
		con = string(r.Output)
		return strings.Contains(con, "ct1 login:")
	})
	t.Logf("container console shows \"ct1 login:\" %s after start", time.Since(t1).Round(100*time.Millisecond))

	h.run(keys.CmdInstanceShutdown, inst, keys.ShutdownParams{TimeoutSeconds: 20}, 2*time.Minute)
	// The shutdown gives the container's systemd 20 s: wait past that (a
	// 10 s wait failed once in a loaded CI run while systemd still stopped).
	h.waitDomain("ct1", keys.DomainStopped, 40*time.Second)
	h.run(keys.CmdInstanceRemove, inst, nil, time.Minute)
	if _, err := os.Stat(filepath.Join(h.storage, "instances", "ct1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("files left after remove: %v", err)
	}
}

// containerInit finds the init process of libvirt LXC container name: the
// child of its libvirt_lxc controller.
func containerInit(t testing.TB, name string) int {
	ents, _ := os.ReadDir("/proc")
	ctrl := 0
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		args := strings.Split(string(cmd), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "libvirt_lxc") && slices.Contains(args, name) {
			ctrl = p
			break
		}
	}
	if ctrl == 0 {
		return 0
	}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		s := string(st)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ctrl) {
			return p
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
