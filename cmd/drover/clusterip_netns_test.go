package main

// The cluster IP follows the leader (docs/ha.md, "Floating addresses"):
// three masters, each in a network namespace of its own on one LAN, and a
// client namespace that keeps calling https://CLUSTER_IP:5080/api/v1/health
// while the leader is killed with SIGKILL, then stopped with SIGTERM.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/api"
	"github.com/drover-project/drover/floatip/netnslab"
	"github.com/drover-project/drover/realtest"
)

// vipWatch samples, in the background, who answers on the address (from
// the client) and which hosts hold it.
type vipWatch struct {
	t       *testing.T
	addr    netip.Addr
	client  *netnslab.Host
	hosts   []*netnslab.Host
	tlsConf *tls.Config

	mu         sync.Mutex
	answers    []vipAnswer
	holders    string // the last pass's holders, "m1", "" (none) or "m1+m2"
	timeline   []string
	violations []string
	passes     int
	stop       chan struct{}
	done       sync.WaitGroup
}

type vipAnswer struct {
	at     time.Time
	master string // "" when the call failed
}

func (w *vipWatch) start() {
	w.stop = make(chan struct{})
	w.done.Add(2)
	go w.loop(100*time.Millisecond, w.probe)
	go w.loop(50*time.Millisecond, w.sampleHolders)
}

func (w *vipWatch) end() {
	close(w.stop)
	w.done.Wait()
}

func (w *vipWatch) loop(every time.Duration, f func()) {
	defer w.done.Done()
	for {
		f()
		select {
		case <-w.stop:
			return
		case <-time.After(every):
		}
	}
}

// probe calls GET /api/v1/health on the address from the client's namespace.
func (w *vipWatch) probe() {
	var h api.Health
	at := time.Now()
	err := w.client.Dial(net.JoinHostPort(w.addr.String(), "5080"), 500*time.Millisecond, func(c net.Conn) error {
		tc := tls.Client(c, w.tlsConf)
		fmt.Fprintf(tc, "GET /api/v1/health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", w.addr)
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&h)
	})
	if err != nil {
		h.Master = ""
	}
	w.mu.Lock()
	w.answers = append(w.answers, vipAnswer{at: at, master: h.Master})
	w.mu.Unlock()
}

// sampleHolders reads every host's addresses. Two hosts seen holding the
// address in one pass are read again: only when both still hold it (so the
// first one held it over the moment the second was seen) is it a
// violation; a handover between the two reads of one pass is not.
func (w *vipWatch) sampleHolders() {
	var held []*netnslab.Host
	for _, h := range w.hosts {
		if ok, err := h.Holds(w.addr); err == nil && ok {
			held = append(held, h)
		}
	}
	if len(held) > 1 {
		var again []*netnslab.Host
		for _, h := range held {
			if ok, err := h.Holds(w.addr); err == nil && ok {
				again = append(again, h)
			}
		}
		held = again
	}
	var names []string
	for _, h := range held {
		names = append(names, h.Name)
	}
	now := strings.Join(names, "+")
	w.mu.Lock()
	defer w.mu.Unlock()
	w.passes++
	if len(held) > 1 {
		w.violations = append(w.violations, time.Now().Format("15:04:05.000")+" "+now)
	}
	if now != w.holders || len(w.timeline) == 0 {
		w.timeline = append(w.timeline, fmt.Sprintf("%s holder=%q", time.Now().Format("15:04:05.000"), now))
		w.holders = now
	}
}

// current is the last answer and the last pass's holders.
func (w *vipWatch) current() (vipAnswer, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var a vipAnswer
	if n := len(w.answers); n > 0 {
		a = w.answers[n-1]
	}
	return a, w.holders
}

// outage is, around moment at, the time between the last good answer
// before it and the first good answer (from another master than old) after.
func (w *vipWatch) outage(at time.Time, old string) (time.Duration, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lastOK time.Time
	for _, a := range w.answers {
		if a.at.Before(at) && a.master != "" {
			lastOK = a.at
		}
		if !a.at.Before(at) && a.master != "" && a.master != old {
			return a.at.Sub(lastOK), a.master
		}
	}
	return 0, ""
}

func TestClusterIPFollowsLeaderNetns(t *testing.T) {
	realtest.Short(t, "three masters in network namespaces")
	realtest.NeedRoot(t, "network namespaces")
	realtest.NeedBinaries(t, "ip")
	const lan = "198.19.77"
	vip := netip.MustParseAddr(lan + ".50")
	dir := t.TempDir()
	cdir := filepath.Join(dir, "cluster")
	lab := netnslab.New(t, "vip")
	var masters []*netnslab.Host
	for i := 1; i <= 3; i++ {
		masters = append(masters, lab.AddHost(fmt.Sprintf("m%d", i), fmt.Sprintf("%s.%d", lan, i)))
	}
	client := lab.AddHost("cl", lan+".100")
	byName := map[string]*netnslab.Host{}
	for _, m := range masters {
		byName[m.Name] = m
	}

	// Bad input is refused before anything is written.
	out, err := runDrover("cluster", "init", "vipt", "--dir", cdir, "--master", "m1="+lan+".1", "--cluster-ip", lan+".50", "--cluster-ip-dev", "eth0")
	if err == nil || !strings.Contains(out, "ADDR/PREFIX") {
		t.Fatalf("cluster init with a cluster IP without prefix: err %v\n%s", err, out)
	}
	args := []string{"cluster", "init", "vipt", "--dir", cdir, "--cluster-ip", vip.String() + "/24", "--cluster-ip-dev", "eth0"}
	for _, m := range masters {
		args = append(args, "--master", m.Name+"="+m.Addr)
	}
	if out, err := runDrover(args...); err != nil {
		t.Fatalf("cluster init: %v\n%s", err, out)
	}
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	procs := map[string]*masterProc{}
	startMaster := func(m *netnslab.Host) {
		cmd := m.Start(t, filepath.Join(logs, m.Name+".log"), droverBin, "master", "--dir", cdir, "--name", m.Name)
		p := &masterProc{cmd: cmd, exited: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.exited) }()
		procs[m.Name] = p
	}
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	for _, m := range masters {
		startMaster(m)
	}
	logTails := func() string {
		var sb strings.Builder
		for _, m := range masters {
			b, _ := os.ReadFile(filepath.Join(logs, m.Name+".log"))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			fmt.Fprintf(&sb, "--- %s.log (tail)\n%s\n", m.Name, b)
		}
		return sb.String()
	}

	ca, err := os.ReadFile(filepath.Join(cdir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	w := &vipWatch{t: t, addr: vip, client: client, hosts: masters,
		tlsConf: &tls.Config{RootCAs: pool, ServerName: vip.String(), MinVersion: tls.VersionTLS12}}
	w.start()
	stopped := false
	defer func() {
		if !stopped {
			w.end()
		}
	}()

	// The leader holds it and answers on it.
	var leader string
	waitForOrDump(t, 90*time.Second, "a master answering on the cluster IP", logTails, func() bool {
		a, holders := w.current()
		leader = a.master
		return a.master != "" && holders == a.master
	})
	if got, want := client.NeighMAC(vip.String()), byName[leader].MAC("eth0"); got != want {
		t.Errorf("client's neighbour entry for %s: %q, want %s's eth0 %q", vip, got, leader, want)
	}
	t.Logf("%s holds %s and answers on it", leader, vip)

	// kill -9 of the leader: the kernel drops its holder device with the
	// process; the next leader takes the address once the dead leader's
	// session expired.
	handover := func(how string, sig syscall.Signal) string {
		old := leader
		at := time.Now()
		if err := procs[old].cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		var next string
		waitForOrDump(t, 60*time.Second, "another master answering on the cluster IP after "+how+" of "+old, logTails, func() bool {
			a, holders := w.current()
			next = a.master
			return a.master != "" && a.master != old && a.at.After(at) && holders == a.master
		})
		gap, _ := w.outage(at, old)
		if got, want := client.NeighMAC(vip.String()), byName[next].MAC("eth0"); got != want {
			t.Errorf("after %s of %s: client's neighbour entry for %s is %q, want %s's eth0 %q", how, old, vip, got, next, want)
		}
		t.Logf("%s of leader %s: %s answers on %s %.2fs after the signal; the client's calls failed for %.2fs (last good answer before to first after)",
			how, old, next, vip, time.Since(at).Seconds(), gap.Seconds())
		b, _ := os.ReadFile(filepath.Join(logs, next+".log"))
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "msg=leader_elected") || strings.Contains(l, "msg=cluster_ip_") || strings.Contains(l, "msg=dead_leader_deposed") {
				t.Logf("  %s: %s", next, l)
			}
		}
		<-procs[old].exited
		if ok, _ := byName[old].Holds(vip); ok {
			t.Errorf("%s still holds %s after %s", old, vip, how)
		}
		leader = next
		return old
	}
	killed := handover("kill -9", syscall.SIGKILL)

	// The killed master comes back as a follower and takes nothing.
	startMaster(byName[killed])
	waitForOrDump(t, 60*time.Second, killed+" answering on its own address", logTails, func() bool {
		var h api.Health
		err := client.Dial(byName[killed].Addr+":5080", 500*time.Millisecond, func(c net.Conn) error {
			tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: killed, MinVersion: tls.VersionTLS12})
			fmt.Fprintf(tc, "GET /api/v1/health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", killed)
			resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return json.NewDecoder(resp.Body).Decode(&h)
		})
		return err == nil && h.Master == killed
	})

	// A clean stop (SIGTERM) hands over at once: the leader gives the
	// address up, then resigns.
	handover("SIGTERM", syscall.SIGTERM)

	// The API answers on the cluster IP; bad input is refused; removing
	// the address from the record takes it off the leader.
	ca0 := "DROVER_CA=" + filepath.Join(cdir, "pki", "ca.crt")
	tok := "DROVER_TOKEN=@" + filepath.Join(cdir, "admin.token")
	viaVIP := []string{"DROVER_API=https://" + vip.String() + ":5080", ca0, tok}
	if out, err := runDroverIn(client, viaVIP, "cluster", "info"); err != nil || !strings.Contains(out, "Cluster IP: "+vip.String()+"/24 on eth0") {
		t.Errorf("cluster info through the cluster IP: err %v\n%s", err, out)
	}
	if out, err := runDroverIn(client, viaVIP, "cluster", "modify", "--cluster-ip", "300.1.1.1/24"); err == nil || !strings.Contains(out, "ADDR/PREFIX") {
		t.Errorf("cluster modify --cluster-ip 300.1.1.1/24: err %v, want a refusal\n%s", err, out)
	}
	var urls []string
	for _, m := range masters {
		urls = append(urls, "https://"+m.Addr+":5080")
	}
	direct := []string{"DROVER_API=" + strings.Join(urls, ","), ca0, tok}
	if out, err := runDroverIn(client, direct, "cluster", "modify", "--cluster-ip-dev", "eth1", "--cluster-ip", ""); err == nil || !strings.Contains(out, "without a cluster_ip") {
		t.Errorf("cluster modify with a device and no address: err %v, want a refusal\n%s", err, out)
	}
	if out, err := runDroverIn(client, direct, "cluster", "modify", "--cluster-ip", ""); err != nil {
		t.Fatalf("cluster modify --cluster-ip '': %v\n%s", err, out)
	}
	waitForOrDump(t, 30*time.Second, "no master holding the removed cluster IP", logTails, func() bool {
		_, holders := w.current()
		return holders == ""
	})
	w.end()
	stopped = true
	w.mu.Lock()
	t.Logf("holders over time (%d passes):\n  %s", w.passes, strings.Join(w.timeline, "\n  "))
	if len(w.violations) > 0 {
		t.Errorf("two hosts held %s at once: %v", vip, w.violations)
	}
	w.mu.Unlock()
}

type masterProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// runDrover runs the drover binary in the machine's namespace.
func runDrover(args ...string) (string, error) {
	out, err := exec.Command(droverBin, args...).CombinedOutput()
	return string(out), err
}

// runDroverIn runs the drover binary in h's namespace with env added.
func runDroverIn(h *netnslab.Host, env []string, args ...string) (string, error) {
	argv := append(append(append([]string{"netns", "exec", h.NS, "env"}, env...), droverBin), args...)
	out, err := exec.Command("ip", argv...).CombinedOutput()
	return string(out), err
}

// waitForOrDump is waitFor that adds dump() to the failure.
func waitForOrDump(t *testing.T, limit time.Duration, what string, dump func() string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s\n%s", what, limit, dump())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
