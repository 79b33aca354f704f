package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
)

// FenceConfig configures self-fencing (docs/fencing.md).
type FenceConfig struct {
	// PidDirs hold libvirt's pid files (<domain>.pid) of the node's guests:
	// what self-fencing kills when the hypervisor does not answer. Default
	// DefaultPidDirs; a libvirtd in its own mount namespace keeps them under
	// /proc/<libvirtd pid>/root/run/libvirt/....
	PidDirs []string
	// Watchdog is the watchdog device to arm (/dev/watchdog with softdog or
	// a hardware watchdog); "" arms none. Only one process can hold it.
	Watchdog string
}

// DefaultPidDirs are where the system libvirtd's QEMU and LXC drivers keep
// their guests' pid files.
var DefaultPidDirs = []string{"/run/libvirt/qemu", "/run/libvirt/lxc"}

// errNotFenced means self-fencing could not make sure that no guest runs.
var errNotFenced = errors.New("nodeagent: not fenced")

// fencer stops every guest of the node when its lease is lost, in this
// order: (1) destroy each active domain through the hypervisor, within
// timing.HypervisorDeadline; (2) kill the guests' processes from libvirt's
// pid files (always: a destroy that timed out may still be pending, and a
// hung hypervisor answers nothing); (3) the watchdog: the fencer pets it only
// while the lease is trusted or after a fence it verified, so a node whose
// fence fails (or whose agent hangs) is reset WatchdogTimeout after the last
// pet. A fence is reported done only when it verified that no guest runs.
type fencer struct {
	drv    hv.Driver
	cfg    FenceConfig
	timing keys.LeaseTiming
	log    *slog.Logger
	wd     *watchdog

	mu sync.Mutex
	// lastActive are the domains last seen active (observed: a list ever
	// succeeded): what must be gone when the hypervisor cannot be asked.
	lastActive []string
	observed   bool
	// clean: a fence verified that no guest runs, and no lease was held
	// since; failed: the last fence could not verify it. holding: a lease
	// session is on; trusted tells whether its lease may still be relied on.
	clean, failed bool
	holding       bool
	trusted       func() bool
	stopPet       chan struct{}
	petDone       chan struct{}
}

func newFencer(drv hv.Driver, cfg FenceConfig, t keys.LeaseTiming, log *slog.Logger) *fencer {
	if cfg.PidDirs == nil {
		cfg.PidDirs = DefaultPidDirs
	}
	return &fencer{drv: drv, cfg: cfg, timing: t, log: log}
}

// safe reports whether the node may take a new lease without fencing first:
// the last fence, if any, verified that no guest runs.
func (f *fencer) safe() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.failed
}

// isClean reports whether a fence verified that no guest runs and no lease
// was held since.
func (f *fencer) isClean() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clean
}

// mayPet is the watchdog rule: pet only while the lease is trusted or the
// node is verified clean.
func (f *fencer) mayPet() bool {
	f.mu.Lock()
	clean, trusted := f.clean, f.trusted
	f.mu.Unlock()
	return clean || (trusted != nil && trusted())
}

// hold records that a lease session started (guests may run from now on)
// with trusted telling whether its lease is still trusted, or ended.
func (f *fencer) hold(trusted func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holding, f.trusted = trusted != nil, trusted
	if f.holding {
		f.clean = false
	}
}

// fence stops every guest; nil only when it verified that none runs.
func (f *fencer) fence() error {
	if f.drv == nil {
		f.mu.Lock()
		f.clean = true
		f.mu.Unlock()
		return nil
	}
	start := time.Now()
	hvErr := f.destroyAll()
	f.mu.Lock()
	expect, observed := slices.Clone(f.lastActive), f.observed
	f.mu.Unlock()
	deadline := start.Add(f.timing.FenceTimeout)
	killed, kerr := killGuests(f.cfg.PidDirs, deadline, f.log)
	var err error
	switch {
	case kerr != nil:
		err = fmt.Errorf("%w: %w", errNotFenced, kerr)
	case hvErr != nil && !observed:
		err = fmt.Errorf("%w: hypervisor: %w; its domains were never listed", errNotFenced, hvErr)
	case hvErr != nil && len(missing(expect, killed)) > 0:
		err = fmt.Errorf("%w: hypervisor: %w; no guest process found for %v", errNotFenced, hvErr, missing(expect, killed))
	case hvErr != nil:
		f.forget()
	}
	f.mu.Lock()
	f.clean, f.failed = err == nil, err != nil
	f.mu.Unlock()
	if err != nil {
		f.log.Error("self_fence_failed", "err", err, "took", time.Since(start).Round(time.Millisecond), "watchdog", f.armed())
		return err
	}
	f.log.Warn("self_fence_done", "killed", len(killed), "hypervisor_ok", hvErr == nil, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// destroyAll destroys every active domain through the hypervisor within
// HypervisorDeadline, and checks with a new list that none is left. It
// records what it saw active (for the case where a later fence finds the
// hypervisor hung).
func (f *fencer) destroyAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), f.timing.HypervisorDeadline())
	defer cancel()
	active, err := f.listActive(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, name := range active {
		wg.Go(func() {
			if err := f.drv.Destroy(ctx, name); err != nil && !errors.Is(err, hv.ErrWrongState) {
				f.log.Error("self_fence_destroy_failed", "instance", name, "err", err)
				return
			}
			f.log.Warn("self_fence_destroyed", "instance", name)
		})
	}
	wg.Wait()
	left, err := f.listActive(ctx)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("still active after destroy: %v", left)
	}
	return nil
}

// listActive lists the active domains and remembers them (adding to what
// was seen before: a domain seen active stays expected until a list shows
// it stopped).
func (f *fencer) listActive(ctx context.Context) ([]string, error) {
	doms, err := f.drv.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	var active []string
	for _, d := range doms {
		if d.State.Active() {
			active = append(active, d.Name)
		}
	}
	f.mu.Lock()
	f.lastActive, f.observed = active, true
	f.mu.Unlock()
	return active, nil
}

// observe refreshes lastActive from the hypervisor (bounded by the
// hypervisor deadline); errors leave the last list.
func (f *fencer) observe() {
	if f.drv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timing.HypervisorDeadline())
	defer cancel()
	_, _ = f.listActive(ctx)
}

func (f *fencer) forget() {
	f.mu.Lock()
	f.lastActive = []string{}
	f.mu.Unlock()
}

// missing is what of want is not in got.
func missing(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}

// arm opens the watchdog device when one is configured and starts the
// goroutine that pets it by the rule of mayPet and keeps lastActive fresh.
func (f *fencer) arm() error {
	f.stopPet, f.petDone = make(chan struct{}), make(chan struct{})
	var err error
	if f.cfg.Watchdog != "" {
		f.wd, err = openWatchdog(f.cfg.Watchdog, f.timing.WatchdogTimeout)
		if err == nil {
			f.log.Info("watchdog_armed", "device", f.cfg.Watchdog, "timeout", f.wd.timeout)
		}
	}
	go f.run()
	return err
}

func (f *fencer) run() {
	defer close(f.petDone)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		// Observe what runs, so a fence knows what to find when the
		// hypervisor hangs.
		t := time.NewTicker(f.timing.FenceTimeout)
		defer t.Stop()
		for {
			f.observe()
			select {
			case <-f.stopPet:
				return
			case <-t.C:
			}
		}
	})
	if f.wd == nil {
		<-f.stopPet
		return
	}
	t := time.NewTicker(f.timing.WatchdogTimeout / 5)
	defer t.Stop()
	for {
		select {
		case <-f.stopPet:
			return
		case <-t.C:
		}
		if f.mayPet() {
			if err := f.wd.pet(); err != nil {
				f.log.Error("watchdog_pet_failed", "err", err)
			}
		}
	}
}

// disarm stops the petting and, for a clean stop of the agent, disarms the
// watchdog.
func (f *fencer) disarm() {
	if f.stopPet == nil {
		return
	}
	close(f.stopPet)
	<-f.petDone
	if f.wd != nil {
		if err := f.wd.disarm(); err != nil {
			f.log.Error("watchdog_disarm_failed", "err", err)
		}
		f.wd = nil
	}
}

// armed reports whether a watchdog is armed.
func (f *fencer) armed() bool { return f.wd != nil }

// watchdogStatus is what the node status reports about the watchdog.
func (f *fencer) watchdogStatus() *keys.WatchdogStatus {
	if f.wd == nil {
		return nil
	}
	return &keys.WatchdogStatus{Device: f.wd.path, TimeoutSec: int(f.wd.timeout / time.Second)}
}

// sawHypervisor reports whether a domain list ever succeeded.
func (f *fencer) sawHypervisor() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.observed
}
