package nodeagent

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/drover-project/drover/master/keys"
	"github.com/drover-project/drover/nodeagent/hv"
)

// domainPublisher publishes a DomainStatus per instance at NodeDomainKey,
// bound to the session's lease: at once on the driver's lifecycle events
// (when it is an hv.EventSource), after every command, and by a periodic
// resync that also catches events lost across hypervisor restarts.
type domainPublisher struct {
	cli      *clientv3.Client
	node     string
	lease    clientv3.LeaseID
	drv      hv.Driver
	exec     *Executor
	instDir  string // storage's instances directory ("" = none)
	interval time.Duration
	refresh  time.Duration // republish unchanged states this often
	log      *slog.Logger

	kick chan struct{}
	mu   sync.Mutex
	last map[string]keys.DomainStatus // what is published
	at   map[string]time.Time
}

func newDomainPublisher(cli *clientv3.Client, node string, lease clientv3.LeaseID, drv hv.Driver, exec *Executor, instDir string, interval time.Duration, log *slog.Logger) *domainPublisher {
	if interval <= 0 {
		interval = 3 * time.Second
	}
	return &domainPublisher{cli: cli, node: node, lease: lease, drv: drv, exec: exec, instDir: instDir,
		interval: interval, refresh: 30 * time.Second, log: log,
		kick: make(chan struct{}, 1), last: map[string]keys.DomainStatus{}, at: map[string]time.Time{}}
}

// Kick asks for a resync soon.
func (p *domainPublisher) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// contractState maps a driver state to DomainStatus.State.
func contractState(s hv.DomainState) string {
	switch s {
	case hv.StateRunning, hv.StateShutdown, hv.StateBlocked:
		return keys.DomainRunning
	case hv.StatePaused:
		return keys.DomainPaused
	case hv.StateCrashed:
		return keys.DomainCrashed
	}
	return keys.DomainStopped
}

func (p *domainPublisher) run(ctx context.Context) {
	var events <-chan hv.Event
	if es, ok := p.drv.(hv.EventSource); ok {
		if ch, err := es.Events(ctx); err == nil {
			events = ch
		} else {
			p.log.Warn("domain_events_unavailable", "err", err)
		}
	}
	p.resync(ctx)
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			p.onEvent(ctx, ev)
		case <-p.kick:
			p.resync(ctx)
		case <-tick.C:
			p.resync(ctx)
		}
	}
}

func (p *domainPublisher) onEvent(ctx context.Context, ev hv.Event) {
	switch ev.Type {
	case hv.EventReconnected, hv.EventOther:
		p.resync(ctx)
		return
	case hv.EventUndefined:
		p.resync(ctx)
		return
	}
	if !p.managed(ev.Domain) {
		return
	}
	st := ev.State
	if st == "" || st == hv.StateUnknown {
		s, err := p.drv.State(ctx, ev.Domain)
		if err != nil {
			p.resync(ctx)
			return
		}
		st = s
	}
	uuid := ev.UUID
	if uuid == "" {
		p.mu.Lock()
		uuid = p.last[ev.Domain].UUID
		p.mu.Unlock()
	}
	p.put(ctx, keys.DomainStatus{Instance: ev.Domain, State: contractState(st), UUID: uuid, ObservedAt: time.Now().UTC()}, true)
}

// resync lists the domains and publishes what changed; instances with
// storage on this node but no domain are "missing" (unless a command on them
// is under way), and keys of instances that are gone are deleted.
func (p *domainPublisher) resync(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	doms, err := p.drv.List(lctx)
	cancel()
	if err != nil {
		p.log.Warn("domain_resync_failed", "err", err)
		return
	}
	now := time.Now().UTC()
	want := map[string]keys.DomainStatus{}
	for _, d := range doms {
		if p.managed(d.Name) {
			want[d.Name] = keys.DomainStatus{Instance: d.Name, State: contractState(d.State), UUID: d.UUID, ObservedAt: now}
		}
	}
	if p.instDir != "" {
		ents, _ := os.ReadDir(p.instDir)
		for _, e := range ents {
			n := e.Name()
			if !e.IsDir() || strings.HasSuffix(n, ".reinstall") || strings.HasSuffix(n, ".old") {
				continue
			}
			if _, ok := want[n]; !ok && (p.exec == nil || !p.exec.Busy(n)) {
				if _, err := os.Stat(filepath.Join(p.instDir, n)); err == nil {
					want[n] = keys.DomainStatus{Instance: n, State: keys.DomainMissing, ObservedAt: now,
						UUID: readOwner(filepath.Join(p.instDir, n)).UUID}
				}
			}
		}
	}
	for _, st := range want {
		p.put(ctx, st, false)
	}
	p.mu.Lock()
	var gone []string
	for n := range p.last {
		if _, ok := want[n]; !ok && (p.exec == nil || !p.exec.Busy(n)) {
			gone = append(gone, n)
		}
	}
	p.mu.Unlock()
	for _, n := range gone {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := p.cli.Delete(dctx, keys.NodeDomainKey(p.node, n))
		cancel()
		if err != nil {
			p.log.Warn("domain_status_delete_failed", "instance", n, "err", err)
			continue
		}
		p.mu.Lock()
		delete(p.last, n)
		delete(p.at, n)
		p.mu.Unlock()
	}
}

// put publishes st if it changed (or force, or it is due for a refresh).
func (p *domainPublisher) put(ctx context.Context, st keys.DomainStatus, force bool) {
	p.mu.Lock()
	prev, ok := p.last[st.Instance]
	due := time.Since(p.at[st.Instance]) >= p.refresh
	p.mu.Unlock()
	if ok && prev.State == st.State && prev.UUID == st.UUID && !force && !due {
		return
	}
	b, err := json.Marshal(st)
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = p.cli.Put(pctx, keys.NodeDomainKey(p.node, st.Instance), string(b), clientv3.WithLease(p.lease))
	cancel()
	if err != nil {
		p.log.Warn("domain_status_publish_failed", "instance", st.Instance, "err", err)
		return
	}
	if !ok || prev.State != st.State {
		p.log.Info("domain_state", "instance", st.Instance, "state", st.State)
	}
	p.mu.Lock()
	p.last[st.Instance], p.at[st.Instance] = st, time.Now()
	p.mu.Unlock()
}

// managed reports whether domain name is a drover instance of this node (it
// has an instance directory): foreign domains, such as the test
// hypervisor's built-in "test", are not published.
func (p *domainPublisher) managed(name string) bool {
	if p.instDir == "" {
		return true
	}
	_, err := os.Stat(filepath.Join(p.instDir, name))
	return err == nil
}
