package hvtest

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/nodeagent/libvirtd"
)

// RequireReal is true when DROVER_REQUIRE_REAL is set: tests that need root,
// libvirtd or QEMU must run and fail loudly instead of skipping.
func RequireReal() bool { return realtest.Required() }

// SkipOrFail is realtest.Need: it skips the test with msg, or fails it
// when DROVER_REQUIRE_REAL is set.
func SkipOrFail(t testing.TB, msg string) {
	t.Helper()
	realtest.Need(t, "%s", msg)
}

// NeedBinaries skips (or fails) unless every binary is on PATH.
func NeedBinaries(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			SkipOrFail(t, b+" not installed (see docs/hypervisors.md for the packages)")
		}
	}
}

// ShortTempDir is a temporary directory under /tmp, short enough for unix
// socket paths, removed at cleanup.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/tmp", "hvt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// StartDaemon starts a private libvirtd for the test and stops it at
// cleanup. It skips (or fails, with DROVER_REQUIRE_REAL) when this host
// cannot run one.
func StartDaemon(t testing.TB, opts libvirtd.Options) *libvirtd.Daemon {
	t.Helper()
	if err := libvirtd.Check(); err != nil {
		SkipOrFail(t, err.Error())
	}
	if opts.Dir == "" {
		opts.Dir = ShortTempDir(t)
	}
	if opts.CapsCache == "" {
		opts.CapsCache = filepath.Join(CacheDir(t), "libvirt-qemu-caps")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	d, err := libvirtd.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start libvirtd: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop libvirtd: %v", err)
		}
	})
	return d
}

// Logger is a slog.Logger writing to the test's log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-min(1, len(p))]))
	return len(p), nil
}
