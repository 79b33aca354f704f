package drbd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Runner runs one program with stdin and returns its combined output.
type Runner func(ctx context.Context, stdin, name string, args ...string) ([]byte, error)

// ExecRunner runs programs from PATH.
func ExecRunner(ctx context.Context, stdin, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Admin drives drbdadm for the resources it writes into ConfDir.
type Admin struct {
	// Version of the loaded module: selects the resource file syntax.
	Version Version
	// ConfDir holds drbd.conf and drbd.d/ (default /etc).
	ConfDir string
	// Run runs drbdadm (default ExecRunner).
	Run Runner
	// RetryPause is the first pause before a timed-out drbdadm call is
	// tried again (default 1 s; tests make it short).
	RetryPause time.Duration
}

func (a *Admin) confDir() string {
	if a.ConfDir == "" {
		return "/etc"
	}
	return a.ConfDir
}

// ResourceFile is where resource name's definition lives.
func (a *Admin) ResourceFile(name string) string {
	return filepath.Join(a.confDir(), "drbd.d", name+".res")
}

// WriteResource writes (atomically) the resource file, and drbd.conf when it
// is missing (usage-count no: drbdadm must never stop to ask).
func (a *Admin) WriteResource(r Resource) error {
	text, err := r.Config(a.Version)
	if err != nil {
		return err
	}
	dir := filepath.Join(a.confDir(), "drbd.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("drbd: %w", err)
	}
	main := filepath.Join(a.confDir(), "drbd.conf")
	want := "# written by the drover agent\nglobal { usage-count no; }\ninclude \"" + dir + "/*.res\";\n"
	if b, err := os.ReadFile(main); err != nil || !bytes.Equal(b, []byte(want)) {
		if err := writeAtomic(main, []byte(want), 0o644); err != nil {
			return err
		}
	}
	return writeAtomic(a.ResourceFile(r.Name), []byte(text), 0o600)
}

// RemoveResource deletes the resource file (missing is fine).
func (a *Admin) RemoveResource(name string) error {
	if err := os.Remove(a.ResourceFile(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("drbd: %w", err)
	}
	return nil
}

// writeAtomic writes path through a temporary file of its own: two
// commands writing the same file at once (two activate-disks after a
// reboot both write the missing drbd.conf) do not take each other's.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("drbd: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("drbd: %w", err)
	}
	return nil
}

// drbdadm runs drbdadm. drbdadm gives some drbdsetup calls 5 s (new-path,
// connect, ...) and fails "did not terminate within 5 seconds" (exit 20)
// when a loaded node is slower; such a call is tried again (twice, after a
// pause): every command but create-md is idempotent (it makes the kernel's
// state match the file, or finds it so).
func (a *Admin) drbdadm(ctx context.Context, stdin string, args ...string) error {
	run := a.Run
	if run == nil {
		run = ExecRunner
	}
	full := append([]string{"--config-file", filepath.Join(a.confDir(), "drbd.conf")}, args...)
	var err error
	for attempt := 0; ; attempt++ {
		var out []byte
		out, err = run(ctx, stdin, "drbdadm", full...)
		if err == nil || attempt == 2 || args[0] == "create-md" || !drbdadmTimedOut(out, err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * a.retryPause()):
		}
	}
}

// drbdadmTimedOut: drbdadm gave up waiting for one of its drbdsetup calls.
func drbdadmTimedOut(out []byte, err error) bool {
	return strings.Contains(string(out), "did not terminate within") || strings.Contains(err.Error(), "did not terminate within")
}

func (a *Admin) retryPause() time.Duration {
	if a.RetryPause > 0 {
		return a.RetryPause
	}
	return time.Second
}

// CreateMD writes fresh internal metadata on the backing device. Only for a
// new disk: on a disk with data it would forget which side is current.
func (a *Admin) CreateMD(ctx context.Context, name string) error {
	args := []string{"create-md", "--force"}
	if a.Version.Major >= 9 {
		// Room for a third peer, so a secondary can be replaced while
		// the old one still holds a copy.
		args = append(args, "--max-peers=3")
	}
	return a.drbdadm(ctx, "yes\nyes\n", append(args, name)...)
}

// Up attaches the disk and connects to the peers.
func (a *Admin) Up(ctx context.Context, name string) error { return a.drbdadm(ctx, "", "up", name) }

// Adjust makes the kernel's resource match its file (also brings a down
// resource up): the idempotent form of up.
func (a *Admin) Adjust(ctx context.Context, name string) error {
	return a.drbdadm(ctx, "", "adjust", name)
}

// Primary promotes this node. force overrides DRBD's refusal to promote
// without UpToDate data: only for the first sync of a new disk.
func (a *Admin) Primary(ctx context.Context, name string, force bool) error {
	if force {
		return a.drbdadm(ctx, "", "primary", "--force", name)
	}
	return a.drbdadm(ctx, "", "primary", name)
}

// Secondary demotes this node.
func (a *Admin) Secondary(ctx context.Context, name string) error {
	return a.drbdadm(ctx, "", "secondary", name)
}

// Down disconnects and detaches the resource.
func (a *Admin) Down(ctx context.Context, name string) error { return a.drbdadm(ctx, "", "down", name) }

// Resize makes DRBD use the grown backing devices (on the primary, after
// every peer's LV was grown).
func (a *Admin) Resize(ctx context.Context, name string) error {
	return a.drbdadm(ctx, "", "resize", name)
}

// DeviceFor is the block device of a minor.
func DeviceFor(minor int) string { return fmt.Sprintf("/dev/drbd%d", minor) }
