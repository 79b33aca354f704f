package templates

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Bootstrap tools.
const (
	ToolMmdebstrap  = "mmdebstrap"
	ToolDebootstrap = "debootstrap"
	ToolImport      = "import"
)

// BootInclude is what a template needs, on top of minbase, to boot as a KVM
// guest by direct kernel boot and as an LXC container: a kernel (with its
// initramfs, made by initramfs-tools), systemd as init, and udev. Networking
// uses systemd-networkd, which is part of the systemd package. D-Bus lets
// systemd-logind run, which acts on the ACPI power button: without it a
// guest ignores `instance shutdown` until the hypervisor destroys it.
var BootInclude = []string{"linux-image-amd64", "systemd-sysv", "udev", "dbus"}

// BuildOptions says what to bootstrap.
type BuildOptions struct {
	// Name of the template (ValidName).
	Name string
	// Suite, e.g. "bookworm" (default).
	Suite string
	// Variant: "minbase" (default), "buildd", "" for the tool's default is not offered.
	Variant string
	// Include: extra packages (see BootInclude).
	Include []string
	// Mirror URL; default DefaultMirror(Suite).
	Mirror string
	// Tool: "mmdebstrap", "debootstrap" or "" / "auto" (mmdebstrap if installed).
	Tool string
	// Compression: "zstd", "gzip" or "" (DefaultCompression).
	Compression string
	// WorkDir holds the root filesystem while it is built and receives the
	// tarball NAME.tar.zst and its manifest NAME.json. Required.
	WorkDir string
	// Logger; nil discards.
	Logger *slog.Logger
}

func (o *BuildOptions) defaults() error {
	if !ValidName(o.Name) {
		return fmt.Errorf("build: template name %q: %w", o.Name, ErrInvalid)
	}
	if o.WorkDir == "" {
		return fmt.Errorf("build: work dir required: %w", ErrInvalid)
	}
	if o.Suite == "" {
		o.Suite = "bookworm"
	}
	if o.Variant == "" {
		o.Variant = "minbase"
	}
	if o.Mirror == "" {
		o.Mirror = DefaultMirror(o.Suite)
	}
	if o.Compression == "" {
		o.Compression = DefaultCompression()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for _, p := range o.Include {
		if p == "" || strings.ContainsAny(p, ", \t\n") || strings.HasPrefix(p, "-") {
			return fmt.Errorf("build: package %q: %w", p, ErrInvalid)
		}
	}
	switch o.Tool {
	case "", "auto":
		if _, err := exec.LookPath(ToolMmdebstrap); err == nil {
			o.Tool = ToolMmdebstrap
		} else if _, err := exec.LookPath(ToolDebootstrap); err == nil {
			o.Tool = ToolDebootstrap
		} else {
			return fmt.Errorf("build: neither mmdebstrap nor debootstrap installed: %w", ErrToolMissing)
		}
	case ToolMmdebstrap, ToolDebootstrap:
		if _, err := exec.LookPath(o.Tool); err != nil {
			return fmt.Errorf("build: %s: %w", o.Tool, ErrToolMissing)
		}
	default:
		return fmt.Errorf("build: tool %q: %w", o.Tool, ErrInvalid)
	}
	return nil
}

// Build bootstraps a root filesystem, cleans it (APT lists and cache, the
// host's resolv.conf and hostname, machine-id, SSH host keys), records its
// packages, packs it into WorkDir/NAME.tar.zst (or .tar.gz) and writes the
// manifest beside it as NAME.json. The manifest's Version is 0: Store.Add
// assigns one. Build needs root. Progress steps: "bootstrap" then "pack".
func Build(ctx context.Context, o BuildOptions, progress func(Progress)) (*Artifact, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	log := o.Logger.With("template", o.Name, "tool", o.Tool, "suite", o.Suite)
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("build %s: %w", o.Name, err)
	}
	out := filepath.Join(o.WorkDir, o.Name+tarballExt(o.Compression))
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("build %s: %s: %w", o.Name, out, ErrExists)
	}
	root, err := os.MkdirTemp(o.WorkDir, ".rootfs-"+o.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", o.Name, err)
	}
	// The root filesystem is scratch either way; the tarball is the result.
	// A bootstrap killed midway may leave proc, sys or dev mounted inside it:
	// unmount those first, and never delete through a mount.
	defer func() {
		if err := unmountUnder(root); err != nil {
			log.Warn("build_cleanup_failed", "dir", root, "err", err)
			return
		}
		if err := os.RemoveAll(root); err != nil {
			log.Warn("build_cleanup_failed", "dir", root, "err", err)
		}
	}()

	start := time.Now()
	log.Info("bootstrap_start", "mirror", o.Mirror, "include", o.Include)
	if err := bootstrap(ctx, o, root, progress); err != nil {
		return nil, fmt.Errorf("build %s: %w", o.Name, err)
	}
	log.Info("bootstrap_done", "seconds", time.Since(start).Seconds())
	if err := cleanRootfs(root); err != nil {
		return nil, fmt.Errorf("build %s: %w", o.Name, err)
	}

	m := Manifest{
		Name: o.Name, Suite: o.Suite, Variant: o.Variant, Mirror: o.Mirror,
		Includes: slices.Sorted(slices.Values(o.Include)), Tool: o.Tool,
		Compression: o.Compression, Arch: hostDebArch(),
	}
	if f, err := os.Open(filepath.Join(root, "var/lib/dpkg/status")); err == nil {
		m.Packages, err = parseDpkgStatus(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", o.Name, err)
		}
	}
	size, files, facts, err := dirStats(root)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", o.Name, err)
	}
	facts.apply(&m)
	m.UnpackedSize, m.Files = size, files

	packStart := time.Now()
	m.SHA256, m.Size, err = packDir(ctx, root, out, o.Compression, size, progress)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", o.Name, err)
	}
	m.BuildDate = time.Now().UTC().Truncate(time.Second)
	log.Info("pack_done", "seconds", time.Since(packStart).Seconds(), "size", m.Size, "unpacked", size)
	if err := writeJSONFile(filepath.Join(o.WorkDir, o.Name+".json"), m); err != nil {
		os.Remove(out)
		return nil, fmt.Errorf("build %s: %w", o.Name, err)
	}
	return &Artifact{Path: out, Manifest: m}, nil
}

// hostDebArch maps GOARCH-like host arch to Debian's name via dpkg when present.
func hostDebArch() string {
	b, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// bootstrap runs the tool into root and reports its progress.
func bootstrap(ctx context.Context, o BuildOptions, root string, progress func(Progress)) error {
	var (
		cmd   *exec.Cmd
		lines io.Reader
		parse func(string) (Progress, bool)
		log   bytes.Buffer // tail of the tool's output for error messages
	)
	switch o.Tool {
	case ToolMmdebstrap:
		args := []string{"--verbose", "--mode=root", "--format=directory", "--variant=" + o.Variant}
		if len(o.Include) > 0 {
			args = append(args, "--include="+strings.Join(o.Include, ","))
		}
		args = append(args, o.Suite, root, o.Mirror)
		cmd = command(ctx, ToolMmdebstrap, args...)
		gracefulCancel(cmd)
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, pw
		lines = pr
		parse = (&mmdebstrapParser{}).line
		defer pw.Close()
	case ToolDebootstrap:
		// debootstrap refuses to write into a non-empty dir only when it holds a
		// previous run; root is a fresh empty temp dir.
		args := []string{"--debian-installer", "--variant=" + o.Variant}
		if len(o.Include) > 0 {
			args = append(args, "--include="+strings.Join(o.Include, ","))
		}
		args = append(args, o.Suite, root, o.Mirror)
		cmd = command(ctx, ToolDebootstrap, args...)
		gracefulCancel(cmd)
		// --debian-installer: machine-readable progress (P:, I:/IA:/IF:) on fd 3,
		// the full log on stdout and stderr.
		pr, pw, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("debootstrap: %w", err)
		}
		defer pr.Close()
		cmd.ExtraFiles = []*os.File{pw}
		cmd.Stdout, cmd.Stderr = &tailWriter{buf: &log}, &tailWriter{buf: &log}
		lines = pr
		parse = (&debootstrapParser{}).line
		if err := cmd.Start(); err != nil {
			pw.Close()
			return fmt.Errorf("start debootstrap: %w", err)
		}
		pw.Close()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(lines)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if o.Tool == ToolMmdebstrap {
				(&tailWriter{buf: &log}).Write([]byte(line + "\n"))
			}
			if p, ok := parse(line); ok {
				report(progress, p)
			}
		}
		_, _ = io.Copy(io.Discard, lines)
	}()
	var err error
	if o.Tool == ToolMmdebstrap {
		err = cmd.Run()
		cmd.Stdout.(*io.PipeWriter).Close()
	} else {
		err = cmd.Wait()
	}
	<-done
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", o.Tool, ctx.Err())
		}
		return fmt.Errorf("%s: %w: %s", o.Tool, err, lastLines(log.String(), 15))
	}
	report(progress, Progress{Step: "bootstrap", Percent: 100, Message: "done"})
	return nil
}

// tailWriter keeps the last 64 KiB written to buf.
type tailWriter struct{ buf *bytes.Buffer }

func (t *tailWriter) Write(b []byte) (int, error) {
	t.buf.Write(b)
	if t.buf.Len() > 128<<10 {
		keep := t.buf.Bytes()[t.buf.Len()-64<<10:]
		nb := append([]byte(nil), keep...)
		t.buf.Reset()
		t.buf.Write(nb)
	}
	return len(b), nil
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// cleanRootfs drops what a template must not carry: APT lists and package
// cache, the build host's resolv.conf and hostname, the machine-id (Install
// writes a fresh one) and SSH host keys (regenerated per instance).
func cleanRootfs(root string) error {
	var globs = []string{
		"var/lib/apt/lists/*_*", "var/lib/apt/lists/partial/*",
		"var/cache/apt/archives/*.deb", "var/cache/apt/archives/partial/*", "var/cache/apt/*.bin",
		"etc/ssh/ssh_host_*", "var/log/apt/*", "var/log/dpkg.log", "var/log/bootstrap.log",
		"etc/resolv.conf", "debootstrap",
	}
	for _, g := range globs {
		m, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			return fmt.Errorf("clean rootfs: %w", err)
		}
		for _, p := range m {
			if err := os.RemoveAll(p); err != nil {
				return fmt.Errorf("clean rootfs: %w", err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("localhost\n"), 0o644); err != nil {
		return fmt.Errorf("clean rootfs: %w", err)
	}
	// An empty machine-id: systemd treats the system as unprovisioned until
	// Install writes one.
	if err := os.WriteFile(filepath.Join(root, "etc/machine-id"), nil, 0o444); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clean rootfs: %w", err)
	}
	return nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// gracefulCancel makes ctx's end send SIGTERM to the tool's process group,
// so that mmdebstrap can unmount what it mounted in the chroot; SIGKILL
// follows 30 s later.
func gracefulCancel(cmd *exec.Cmd) {
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
}

// unmountUnder detaches every mount point below dir, deepest first.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	prefix := filepath.Clean(dir) + "/"
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		// Field 5 is the mount point, with spaces etc. octal-escaped.
		mp := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(f[4])
		if strings.HasPrefix(mp, prefix) {
			mounts = append(mounts, mp)
		}
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, mp := range mounts {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", mp, err)
		}
	}
	return nil
}
