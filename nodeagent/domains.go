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
// resync that also catches events lost across hypervisor restarts. It
// writes a state only when it changed: the lease keeps the keys alive, and
// every `check` it reads its keys back (one read) to write again only those
// that someone else removed or changed (docs/scale.md, "Domain states").
type domainPublisher struct {
	cli      *clientv3.Client
	node     string
	lease    clientv3.LeaseID
	drv      hv.Driver
	exec     *Executor
	instDir  string // storage's instances directory ("" = none)
	interval time.Duration
	check    time.Duration // compare with what etcd holds this often
	log      *slog.Logger

	kick    chan struct{}
	mu      sync.Mutex
	last    map[string]keys.DomainStatus // what is published
	checked time.Time                    // when etcd's copy was last compared
	// runningNow is what the hypervisor last showed running (nil until
	// the first resync listed the domains; serviceip.go).
	runningNow map[string]bool
	changed    func() // called after runningNow was set (may be nil)
}

func newDomainPublisher(cli *clientv3.Client, node string, lease clientv3.LeaseID, drv hv.Driver, exec *Executor, instDir string, interval time.Duration, log *slog.Logger) *domainPublisher {
	if interval <= 0 {
		interval = 3 * time.Second
	}
	return &domainPublisher{cli: cli, node: node, lease: lease, drv: drv, exec: exec, instDir: instDir,
		interval: interval, check: 30 * time.Second, log: log,
		kick: make(chan struct{}, 1), last: map[string]keys.DomainStatus{}, checked: time.Now()}
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
	p.observe(ev.Domain, contractState(st))
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
	p.observeAll(want)
	stale := p.staleInEtcd(ctx)
	for _, st := range want {
		p.put(ctx, st, stale[st.Instance])
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
		p.mu.Unlock()
	}
}

// put publishes st if it changed (or force).
func (p *domainPublisher) put(ctx context.Context, st keys.DomainStatus, force bool) {
	p.mu.Lock()
	prev, ok := p.last[st.Instance]
	p.mu.Unlock()
	if ok && prev.State == st.State && prev.UUID == st.UUID && !force {
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
	p.last[st.Instance] = st
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

// staleInEtcd is, once every p.check, the instances whose published state
// etcd no longer holds as published (deleted or changed by someone else,
// such as a master removing a domain key): they are written again. Between
// checks, and when the read fails, it is nil.
func (p *domainPublisher) staleInEtcd(ctx context.Context) map[string]bool {
	p.mu.Lock()
	due := time.Since(p.checked) >= p.check
	p.mu.Unlock()
	if !due {
		return nil
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := p.cli.Get(gctx, keys.NodeDomainKey(p.node, ""), clientv3.WithPrefix())
	cancel()
	if err != nil {
		p.log.Warn("domain_status_check_failed", "err", err)
		return nil
	}
	held := map[string]keys.DomainStatus{}
	for _, kv := range resp.Kvs {
		var d keys.DomainStatus
		if json.Unmarshal(kv.Value, &d) == nil {
			held[strings.TrimPrefix(string(kv.Key), keys.NodeDomainKey(p.node, ""))] = d
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checked = time.Now()
	stale := map[string]bool{}
	for n, st := range p.last {
		if h, ok := held[n]; !ok || h.State != st.State || h.UUID != st.UUID {
			stale[n] = true
		}
	}
	return stale
}
