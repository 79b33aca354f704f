package libvirt_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
	"github.com/drover-project/drover/nodeagent/hv/libvirt"
	"github.com/drover-project/drover/nodeagent/libvirtd"
)

func testSpec(name string) hv.DomainSpec {
	return hv.DomainSpec{Name: name, Kind: hv.KindTest, VCPUs: 1, MemoryMiB: 64}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	realtest.WaitFor(t, timeout, what, cond)
}

// TestSurvivesRestart kills libvirtd under a connected driver (over TCP),
// checks that the driver reports the hypervisor down, starts libvirtd again
// and checks that the next call reconnects and that lifecycle events flow
// again on the new connection.
func TestSurvivesRestart(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{ListenAddr: "127.0.0.1", TCPPort: 16711})
	d := newDriver(t, libvirt.Options{Kind: hv.KindTest, URI: dmn.TCPURI("test"),
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond, CallTimeout: 5 * time.Second, ConnectTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events, err := d.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Define(ctx, testSpec("before")); err != nil {
		t.Fatal(err)
	}
	if err := d.Health(); err != nil {
		t.Fatalf("health before: %v", err)
	}

	if err := dmn.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "health reports the hypervisor down", func() bool { return errors.Is(d.Health(), hv.ErrHypervisorDown) })
	if _, err := d.List(ctx); !errors.Is(err, hv.ErrHypervisorDown) {
		t.Fatalf("list while libvirtd is dead: %v, want ErrHypervisorDown", err)
	}

	if err := dmn.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := d.List(ctx) // reconnects (the test driver's state was reset)
	if err != nil {
		t.Fatalf("list after restart: %v", err)
	}
	t.Logf("domains after restart: %+v", list)
	if err := d.Health(); err != nil {
		t.Fatalf("health after restart: %v", err)
	}
	if err := d.Define(ctx, testSpec("after")); err != nil {
		t.Fatal(err)
	}
	sawReconnect := false
	for {
		select {
		case ev := <-events:
			if ev.Type == hv.EventReconnected {
				sawReconnect = true
			}
			if ev.Domain == "after" && ev.Type == hv.EventDefined {
				if !sawReconnect {
					t.Error("no EventReconnected before events of the new connection")
				}
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no defined event for a domain defined after the restart: events not resubscribed")
		}
	}
}

// TestHungDaemon stops libvirtd with SIGSTOP: calls must fail with
// ErrHypervisorDown within the call deadline instead of hanging, Health must
// say so, and after SIGCONT the driver must work again.
func TestHungDaemon(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	const callTimeout = time.Second
	d := newDriver(t, libvirt.Options{Kind: hv.KindTest, URI: dmn.URI("test"), CallTimeout: callTimeout,
		LongCallTimeout: callTimeout, ConnectTimeout: callTimeout, ReconnectMin: 100 * time.Millisecond, ReconnectMax: 300 * time.Millisecond})
	ctx := context.Background()
	if _, err := d.List(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dmn.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dmn.Signal(syscall.SIGCONT) })

	for i, call := range []func() error{
		func() error { _, err := d.List(ctx); return err },       // on the established connection
		func() error { _, err := d.State(ctx, "x"); return err }, // on a new connection attempt
		func() error { return d.Define(ctx, testSpec("hung")) },
	} {
		start := time.Now()
		err := call()
		took := time.Since(start)
		if !errors.Is(err, hv.ErrHypervisorDown) {
			t.Fatalf("call %d against a stopped libvirtd: %v, want ErrHypervisorDown", i, err)
		}
		if took > callTimeout+time.Second {
			t.Errorf("call %d took %s, deadline %s", i, took, callTimeout)
		}
		t.Logf("call %d failed after %s: %v", i, took.Round(time.Millisecond), err)
	}
	if err := d.Health(); !errors.Is(err, hv.ErrHypervisorDown) {
		t.Errorf("health with a hung libvirtd: %v", err)
	}
	// A caller's shorter deadline is honoured too.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	start := time.Now()
	_, err := d.List(short)
	cancel()
	if err == nil || time.Since(start) > time.Second {
		t.Errorf("list with a 200ms context: %v after %s", err, time.Since(start))
	}

	if err := dmn.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "driver usable after SIGCONT", func() bool {
		_, err := d.List(ctx)
		return err == nil
	})
	if err := d.Health(); err != nil {
		t.Errorf("health after SIGCONT: %v", err)
	}
	// Close does not hang either when the daemon is stopped again.
	if err := dmn.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	d.Close()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close with a hung libvirtd took %s", took)
	}
}

// TestNoGoroutineLeak checks that Close ends every goroutine the driver
// started: call goroutines, the reconnect loop, event pumps, go-libvirt's
// reader.
func TestNoGoroutineLeak(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	d, err := libvirt.New(context.Background(), libvirt.Options{Kind: hv.KindTest, URI: dmn.URI("test"), HealthInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := d.Events(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("leak%d", i)
			_ = d.Define(ctx, testSpec(name))
			_, _ = d.List(ctx)
			_, _ = d.State(ctx, name)
			_ = d.Undefine(ctx, name)
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // a few health pings
	cancel()
	d.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCloseWhileHung checks that Close returns promptly while a health ping
// to a hung libvirtd is in flight, even with a long call timeout.
func TestCloseWhileHung(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	d, err := libvirt.New(context.Background(), libvirt.Options{Kind: hv.KindTest, URI: dmn.URI("test"),
		CallTimeout: time.Minute, HealthInterval: 100 * time.Millisecond, Logger: hvtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := dmn.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dmn.Signal(syscall.SIGCONT) })
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	d.Close()
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("Close took %s", took)
	}
}

// TestCallWaitsForRestart: a call made while libvirtd is dead (its socket
// refuses) waits for the daemon to come back (3 s later), within
// ReconnectGrace, and then runs; with a grace shorter than the outage it
// fails with ErrHypervisorDown. About 8 s.
func TestCallWaitsForRestart(t *testing.T) {
	dmn := hvtest.StartDaemon(t, libvirtd.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		grace time.Duration
		ok    bool
	}{{20 * time.Second, true}, {300 * time.Millisecond, false}} {
		d := newDriver(t, libvirt.Options{Kind: hv.KindTest, URI: dmn.URI("test"), ReconnectGrace: tc.grace,
			ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, CallTimeout: 30 * time.Second})
		if _, err := d.List(ctx); err != nil {
			t.Fatal(err)
		}
		if err := dmn.Kill(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "driver sees libvirtd gone", func() bool { return d.Health() != nil })
		restarted := make(chan error, 1)
		go func() {
			time.Sleep(3 * time.Second)
			restarted <- dmn.Restart(ctx)
		}()
		start := time.Now()
		_, err := d.List(ctx)
		took := time.Since(start)
		if rerr := <-restarted; rerr != nil {
			t.Fatal(rerr)
		}
		t.Logf("grace %s: list during a 3 s outage: %v after %s", tc.grace, err, took.Round(time.Millisecond))
		if tc.ok && err != nil {
			t.Errorf("grace %s: list while libvirtd restarts: %v", tc.grace, err)
		}
		if !tc.ok && !errors.Is(err, hv.ErrHypervisorDown) {
			t.Errorf("grace %s: list during a longer outage: %v, want ErrHypervisorDown", tc.grace, err)
		}
	}
}
