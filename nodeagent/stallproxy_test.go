package nodeagent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// stallProxy forwards TCP to one etcd member and can stall: while stalled it
// accepts connections and reads nothing, forwards nothing, answers nothing,
// as a member stopped with SIGSTOP does (its kernel still holds the sockets).
type stallProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	stalled bool
	resume  chan struct{} // closed when the stall ends
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, resume: make(chan struct{})}
	close(p.resume)
	t.Cleanup(func() { ln.Close(); p.Stall(false) })
	go p.serve()
	return p
}

func (p *stallProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Stall starts or ends a stall.
func (p *stallProxy) Stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on == p.stalled {
		return
	}
	p.stalled = on
	if on {
		p.resume = make(chan struct{})
	} else {
		close(p.resume)
	}
}

// gate blocks while the proxy is stalled.
func (p *stallProxy) gate() {
	p.mu.Lock()
	ch := p.resume
	p.mu.Unlock()
	<-ch
}

func (p *stallProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			p.gate()
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { p.pipe(u, c); done <- struct{}{} }()
			go func() { p.pipe(c, u); done <- struct{}{} }()
			<-done
		}()
	}
}

// pipe copies src to dst, holding each chunk while the proxy is stalled.
func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		p.gate()
		n, err := src.Read(buf)
		if n > 0 {
			p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			return
		}
	}
}

// startEtcd3 runs a real three-member embedded etcd cluster and returns the
// members' client URLs.
func startEtcd3(t *testing.T) []string {
	t.Helper()
	names := []string{"e1", "e2", "e3"}
	var peers, clients []url.URL
	var initial []string
	for _, n := range names {
		pu, _ := url.Parse("http://127.0.0.1:" + itoa(freePort(t)))
		cu, _ := url.Parse("http://127.0.0.1:" + itoa(freePort(t)))
		peers, clients = append(peers, *pu), append(clients, *cu)
		initial = append(initial, n+"="+pu.String())
	}
	var members []*embed.Etcd
	for i, n := range names {
		cfg := embed.NewConfig()
		cfg.Name, cfg.Dir, cfg.LogLevel = n, t.TempDir(), "error"
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.TickMs, cfg.ElectionMs = 100, 1000
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clients[i]}, []url.URL{clients[i]}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peers[i]}, []url.URL{peers[i]}
		cfg.InitialCluster = strings.Join(initial, ",")
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, e)
		t.Cleanup(e.Close)
	}
	var urls []string
	for i, e := range members {
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(60 * time.Second):
			t.Fatal("etcd cluster not ready")
		}
		urls = append(urls, clients[i].String())
	}
	return urls
}

// logCapture is a slog handler that keeps every record's message and text.
type logCapture struct {
	mu   sync.Mutex
	msgs []string
	next slog.Handler
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(ctx context.Context, r slog.Record) error {
	var sb strings.Builder
	sb.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { sb.WriteString(" " + a.String()); return true })
	l.mu.Lock()
	l.msgs = append(l.msgs, sb.String())
	l.mu.Unlock()
	if l.next != nil && l.next.Enabled(ctx, r.Level) {
		return l.next.Handle(ctx, r)
	}
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

// count returns how many records start with msg or contain substr.
func (l *logCapture) count(msg, substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if (msg != "" && strings.HasPrefix(m, msg+" ")) || (substr != "" && strings.Contains(m, substr)) {
			n++
		}
	}
	return n
}
