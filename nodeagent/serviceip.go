package nodeagent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/floatip"
	"github.com/drover-project/drover/master/keys"
)

// serviceIPInterval is how often the service addresses are compared with
// the domains that run here (besides after every command).
const serviceIPInterval = time.Second

// serviceIPs puts the service addresses of the instances that run on this
// node on their host devices and takes them off when the domain stops or
// is gone (docs/ha.md, "Floating addresses"). Every command of an instance
// carries the instance's record as the leader sees it; the address it
// names is kept in dir/<instance> so that a restarted agent knows it. A
// node that fences itself drops them all first (dropAll).
type serviceIPs struct {
	dir string
	log *slog.Logger

	mu    sync.Mutex
	known map[string]api.ServiceIP // instance -> address, as in dir
	kick  chan struct{}
}

func newServiceIPs(dir string, log *slog.Logger) *serviceIPs {
	s := &serviceIPs{dir: dir, log: log, known: map[string]api.ServiceIP{}, kick: make(chan struct{}, 1)}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if sip, err := api.ParseServiceIP(strings.TrimSpace(string(b))); err == nil {
			s.known[e.Name()] = sip
		}
	}
	return s
}

// note records the service address of the instance of command cmd (none:
// forgotten); an address that changed is taken off the host at once.
func (s *serviceIPs) note(cmd keys.NodeCommand) {
	inst := cmd.Instance
	if s == nil || inst.Name == "" || strings.ContainsAny(inst.Name, "/") {
		return
	}
	var want *api.ServiceIP
	if inst.ServiceIP != "" && cmd.Kind != keys.CmdInstanceRemove && cmd.Kind != keys.CmdInstanceRename {
		sip, err := api.ParseServiceIP(inst.ServiceIP)
		if err != nil {
			s.log.Warn("service_ip_ignored", "instance", inst.Name, "error", err)
		} else {
			want = &sip
		}
	}
	s.mu.Lock()
	old, had := s.known[inst.Name]
	switch {
	case want == nil && had:
		delete(s.known, inst.Name)
		_ = os.Remove(filepath.Join(s.dir, inst.Name))
	case want != nil && (!had || old != *want):
		s.known[inst.Name] = *want
		if err := os.MkdirAll(s.dir, 0o755); err == nil {
			_ = os.WriteFile(filepath.Join(s.dir, inst.Name), []byte(want.String()+"\n"), 0o644)
		}
	}
	s.mu.Unlock()
	if had && (want == nil || old != *want) {
		s.remove(context.Background(), inst.Name, old)
	}
	s.Kick()
}

// any reports whether an instance here has a service address.
func (s *serviceIPs) any() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.known) > 0
}

// Kick asks for a comparison soon.
func (s *serviceIPs) Kick() {
	if s == nil {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run compares the addresses with running() (the instances whose domain
// runs here) every serviceIPInterval and when kicked, until ctx ends;
// nothing is changed before the domains were first listed.
func (s *serviceIPs) run(ctx context.Context, running func() (map[string]bool, bool)) {
	t := time.NewTicker(serviceIPInterval)
	defer t.Stop()
	for {
		if r, ok := running(); ok && s.any() {
			s.reconcile(ctx, r)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// reconcile puts the address of every instance that runs here on its
// device (announcing it when it was not there) and takes the others off.
func (s *serviceIPs) reconcile(ctx context.Context, running map[string]bool) {
	s.mu.Lock()
	known := make(map[string]api.ServiceIP, len(s.known))
	for n, sip := range s.known {
		known[n] = sip
	}
	s.mu.Unlock()
	for name, sip := range known {
		if !running[name] {
			s.remove(ctx, name, sip)
			continue
		}
		has, err := floatip.HasAddr(sip.Dev, sip.Prefix.Addr())
		if err != nil || has {
			if err != nil {
				s.log.Warn("service_ip_device", "instance", name, "address", sip.String(), "error", err)
			}
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = floatip.AddAddr(actx, sip.Dev, sip.Prefix)
		cancel()
		if err != nil {
			s.log.Warn("service_ip_add_failed", "instance", name, "address", sip.String(), "error", err)
			continue
		}
		s.log.Info("service_ip_added", "instance", name, "address", sip.String())
		if _, err := floatip.Announce(ctx, sip.Dev, sip.Prefix.Addr(), floatip.Announcements, floatip.AnnounceInterval); err != nil {
			s.log.Warn("gratuitous_arp_failed", "instance", name, "address", sip.String(), "error", err)
		}
	}
}

// remove takes instance name's address off its device if it is there.
func (s *serviceIPs) remove(ctx context.Context, name string, sip api.ServiceIP) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	removed, err := floatip.DelAddr(dctx, sip.Dev, sip.Prefix.Addr())
	switch {
	case err != nil && !errors.Is(err, floatip.ErrNoDevice):
		s.log.Warn("service_ip_remove_failed", "instance", name, "address", sip.String(), "error", err)
	case removed:
		s.log.Info("service_ip_removed", "instance", name, "address", sip.String())
	}
}

// dropAll takes every service address off the host (self-fence: from now
// on the master may start the instances elsewhere).
func (s *serviceIPs) dropAll() {
	if s == nil {
		return
	}
	s.reconcile(context.Background(), nil)
}

// observeAll records the domains a resync listed (want: by instance).
func (p *domainPublisher) observeAll(want map[string]keys.DomainStatus) {
	p.mu.Lock()
	p.runningNow = map[string]bool{}
	for n, st := range want {
		if st.State == keys.DomainRunning {
			p.runningNow[n] = true
		}
	}
	changed := p.changed
	p.mu.Unlock()
	if changed != nil {
		changed()
	}
}

// observe records the state of one domain (a lifecycle event).
func (p *domainPublisher) observe(name, state string) {
	p.mu.Lock()
	if p.runningNow == nil {
		p.mu.Unlock()
		return // not listed yet: the first resync says
	}
	if state == keys.DomainRunning {
		p.runningNow[name] = true
	} else {
		delete(p.runningNow, name)
	}
	changed := p.changed
	p.mu.Unlock()
	if changed != nil {
		changed()
	}
}

// running is the set of instances whose domain the hypervisor last showed
// running here, and false before the domains were first listed.
func (p *domainPublisher) running() (map[string]bool, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningNow == nil {
		return nil, false
	}
	out := make(map[string]bool, len(p.runningNow))
	for n := range p.runningNow {
		out[n] = true
	}
	return out, true
}
