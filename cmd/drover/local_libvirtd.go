package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/drover-project/drover/nodeagent/libvirtd"
)

// libvirtDriverName is the libvirt driver of a drover hypervisor kind.
func libvirtDriverName(kind string) string {
	if kind == "kvm" {
		return "qemu"
	}
	return kind // test, lxc
}

// nodeDaemonDir is node i's libvirtd directory: DIR/libvirt/nodeI, or a
// short directory under /tmp when that path is too long for unix sockets.
func nodeDaemonDir(dir string, i int) string {
	d := filepath.Join(dir, "libvirt", fmt.Sprintf("node%d", i))
	if len(filepath.Join(d, "run", "libvirt-sock-ro")) <= 100 {
		return d
	}
	h := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), fmt.Sprintf("drover-lv-%s-node%d", hex.EncodeToString(h[:4]), i))
}

// startNodeDaemons starts one private libvirtd per node, in parallel: each
// in its own mount namespace with its own socket directory, TCP listener on
// the node's address (port 16509) and host UUID. It returns the daemons and
// the URI each node's agent uses (the unix socket).
func startNodeDaemons(ctx context.Context, dir, nodeNet string, n int, kind string) ([]*libvirtd.Daemon, []string, error) {
	daemons := make([]*libvirtd.Daemon, n)
	errs := make([]error, n)
	logf, err := os.OpenFile(filepath.Join(dir, "log", "libvirtd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	// Open while the daemons run: their supervisors log restarts into it
	// long after this returns.
	context.AfterFunc(ctx, func() { logf.Close() })
	var mu sync.Mutex
	lg := slog.New(slog.NewTextHandler(lockedWriter{&mu, logf}, nil))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ddir := nodeDaemonDir(dir, i+1)
			if err := os.MkdirAll(ddir, 0o755); err != nil {
				errs[i] = err
				return
			}
			daemons[i], errs[i] = libvirtd.Start(ctx, libvirtd.Options{
				Dir:        ddir,
				ListenAddr: fmt.Sprintf("%s.%d", nodeNet, i+1),
				TCPPort:    16509,
				HostUUID:   fmt.Sprintf("d7000000-0000-4000-8000-%012x", i+1),
				LXC:        kind == "lxc",
				CapsCache:  filepath.Join(dir, "libvirt", "qemu-caps"),
				Supervise:  true, // as systemd restarts the packaged libvirtd
				Logger:     lg,
			})
		})
	}
	wg.Wait()
	var started []*libvirtd.Daemon
	var uris []string
	var firstErr error
	for i, d := range daemons {
		if errs[i] != nil && firstErr == nil {
			firstErr = fmt.Errorf("libvirtd of node%d: %w", i+1, errs[i])
		}
		if d != nil {
			started = append(started, d)
			uris = append(uris, d.URI(libvirtDriverName(kind)))
		}
	}
	if firstErr != nil {
		stopDaemons(io.Discard, started)
		return nil, nil, firstErr
	}
	return started, uris, nil
}

// stopDaemons stops the nodes' libvirtds and whatever guests they run
// (QEMU guests and LXC containers run outside the daemon's namespace: see
// local_guests.go).
func stopDaemons(out io.Writer, ds []*libvirtd.Daemon) {
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Go(func() {
			guests := daemonGuestPIDs(d.Dir())
			if err := d.Stop(); err != nil {
				fmt.Fprintf(out, "stop libvirtd %s: %v\n", d.Dir(), err)
			}
			if left := killGuests(guests, 10*time.Second); len(left) > 0 {
				fmt.Fprintf(out, "stop libvirtd %s: guest processes %v still run\n", d.Dir(), left)
			}
		})
	}
	wg.Wait()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
