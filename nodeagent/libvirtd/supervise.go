package libvirtd

import (
	"context"
	"os/exec"
	"time"
)

// Supervision (Options.Supervise): what systemd's Restart=on-failure does
// for the packaged libvirtd on a production node. When libvirtd exits
// without Stop (a crash, kill -9) it is started again in the same mount
// namespace, whose /run/libvirt and /var/lib/libvirt (the guests' status
// XML and monitor sockets) the namespace holder keeps: the new daemon
// re-attaches the QEMU guests and LXC controllers that outlived the old
// one. The agent's driver reconnects by itself (nodeagent/hv/libvirt).

const (
	// restartFirst is the pause before the first restart (systemd's
	// default RestartSec is 100 ms).
	restartFirst = 100 * time.Millisecond
	// restartMax caps the pause of a daemon that keeps dying at once.
	restartMax = 5 * time.Second
	// restartStable is how long a daemon must have run for the next
	// restart to start again from restartFirst.
	restartStable = 10 * time.Second
)

// Restarts is how often the supervisor started libvirtd again.
func (d *Daemon) Restarts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarts
}

// supervise waits for each libvirtd to exit and starts the next one, until
// Stop.
func (d *Daemon) supervise() {
	defer close(d.supDone)
	pause := restartFirst
	for {
		d.mu.Lock()
		cmd, done := d.libvirtd, d.exited
		d.mu.Unlock()
		began := time.Now()
		<-done
		d.mu.Lock()
		stopped := d.stopped
		d.mu.Unlock()
		if stopped {
			return
		}
		if time.Since(began) > restartStable {
			pause = restartFirst
		}
		d.log.Warn("libvirtd_exited", "pid", cmd.Process.Pid, "state", cmd.ProcessState.String(), "restart_in", pause)
		time.Sleep(pause)
		pause = min(2*pause, restartMax)
		if !d.restartAfter(cmd) {
			return
		}
	}
}

// restartAfter starts libvirtd again unless Stop ran or someone (Restart)
// already replaced the exited cmd; false means supervision ends.
func (d *Daemon) restartAfter(old *exec.Cmd) bool {
	d.startMu.Lock()
	defer d.startMu.Unlock()
	for {
		d.mu.Lock()
		stopped, replaced := d.stopped, d.libvirtd != old
		d.mu.Unlock()
		if stopped {
			return false
		}
		if replaced {
			return true
		}
		start := time.Now()
		err := d.startLibvirtd(context.Background())
		if err == nil {
			d.mu.Lock()
			d.restarts++
			n := d.restarts
			d.mu.Unlock()
			d.log.Info("libvirtd_restarted", "restarts", n, "took", time.Since(start).Round(time.Millisecond))
			return true
		}
		d.log.Error("libvirtd_restart_failed", "err", err)
		// A daemon that did not answer in time is killed: never two.
		_ = d.Kill()
		d.mu.Lock()
		old = d.libvirtd
		d.mu.Unlock()
		time.Sleep(restartMax)
	}
}
