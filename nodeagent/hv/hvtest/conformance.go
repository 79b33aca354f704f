package hvtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover-project/drover/realtest"

	"github.com/drover-project/drover/nodeagent/hv"
)

// Caps says what the driver under test can do and how to make its domains.
type Caps struct {
	// Spec returns a valid spec for a new domain called name. Files it needs
	// (disks, kernel, rootfs) must exist; use t.TempDir and t.Cleanup.
	Spec func(t *testing.T, name string) hv.DomainSpec
	// GracefulShutdown: the guest powers off on request within
	// ShutdownTimeout. When false, Shutdown must time out with
	// hv.ErrTimeout and leave the domain running.
	GracefulShutdown bool
	ShutdownTimeout  time.Duration
	// Reboot: Reboot of a running domain succeeds and it keeps running.
	Reboot bool
	// Console: after Start, the console log shows ConsoleWant within
	// ConsoleTimeout. When false, Console must return hv.ErrUnsupported.
	Console        bool
	ConsoleWant    string
	ConsoleTimeout time.Duration
	// ReadyWait is how long a started guest needs before it reacts to
	// shutdown or reboot requests (0: at once).
	ReadyWait time.Duration
	// Events: the driver implements hv.EventSource.
	Events bool
}

const callTimeout = 2 * time.Minute

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Run exercises newDriver's driver: lifecycle, errors, listing, resources,
// shutdown, reboot, console and events. newDriver is called once per subtest
// and must register its own cleanup; domains the suite makes are destroyed
// and undefined by the suite.
func Run(t *testing.T, newDriver func(t *testing.T) hv.Driver, caps Caps) {
	if caps.ShutdownTimeout == 0 {
		caps.ShutdownTimeout = 10 * time.Second
	}
	if caps.ConsoleTimeout == 0 {
		caps.ConsoleTimeout = 60 * time.Second
	}
	mk := func(t *testing.T, name string) (hv.Driver, hv.DomainSpec) {
		d := newDriver(t)
		spec := caps.Spec(t, name)
		t.Cleanup(func() { removeDomain(d, name) })
		return d, spec
	}
	t.Run("Lifecycle", func(t *testing.T) {
		d, spec := mk(t, "hvt-life")
		ctx := ctxT(t)
		must(t, d.Define(ctx, spec), "define")
		wantState(t, d, spec.Name, hv.StateStopped)
		wantErr(t, d.Define(ctx, spec), hv.ErrAlreadyExists, "define twice")
		wantErr(t, d.Destroy(ctx, spec.Name), hv.ErrWrongState, "destroy stopped")
		wantErr(t, d.Reboot(ctx, spec.Name), hv.ErrWrongState, "reboot stopped")
		wantErr(t, d.Shutdown(ctx, spec.Name, time.Second), hv.ErrWrongState, "shutdown stopped")
		must(t, d.Start(ctx, spec.Name), "start")
		wantState(t, d, spec.Name, hv.StateRunning)
		wantErr(t, d.Start(ctx, spec.Name), hv.ErrWrongState, "start running")
		wantErr(t, d.Undefine(ctx, spec.Name), hv.ErrWrongState, "undefine running")
		must(t, d.Destroy(ctx, spec.Name), "destroy")
		wantState(t, d, spec.Name, hv.StateStopped)
		// A stopped domain starts again.
		must(t, d.Start(ctx, spec.Name), "restart")
		wantState(t, d, spec.Name, hv.StateRunning)
		must(t, d.Destroy(ctx, spec.Name), "destroy again")
		must(t, d.Undefine(ctx, spec.Name), "undefine")
		_, err := d.State(ctx, spec.Name)
		wantErr(t, err, hv.ErrNotFound, "state after undefine")
		// The name is free again.
		must(t, d.Define(ctx, spec), "define after undefine")
		must(t, d.Undefine(ctx, spec.Name), "undefine again")
	})
	t.Run("NotFound", func(t *testing.T) {
		d := newDriver(t)
		ctx := ctxT(t)
		const name = "hvt-no-such-domain"
		_, err := d.State(ctx, name)
		wantErr(t, err, hv.ErrNotFound, "state")
		wantErr(t, d.Start(ctx, name), hv.ErrNotFound, "start")
		wantErr(t, d.Destroy(ctx, name), hv.ErrNotFound, "destroy")
		wantErr(t, d.Shutdown(ctx, name, time.Second), hv.ErrNotFound, "shutdown")
		wantErr(t, d.Reboot(ctx, name), hv.ErrNotFound, "reboot")
		wantErr(t, d.Undefine(ctx, name), hv.ErrNotFound, "undefine")
		_, err = d.Console(ctx, name)
		if !errors.Is(err, hv.ErrNotFound) && !errors.Is(err, hv.ErrUnsupported) {
			t.Errorf("console: err = %v, want ErrNotFound or ErrUnsupported", err)
		}
	})
	t.Run("InvalidSpec", func(t *testing.T) {
		d, spec := mk(t, "hvt-invalid")
		ctx := ctxT(t)
		for what, mut := range map[string]func(*hv.DomainSpec){
			"name":   func(s *hv.DomainSpec) { s.Name = "bad/name" },
			"vcpus":  func(s *hv.DomainSpec) { s.VCPUs = 0 },
			"memory": func(s *hv.DomainSpec) { s.MemoryMiB = 0 },
			"mac":    func(s *hv.DomainSpec) { s.NICs = []hv.NIC{{MAC: "nope"}} },
		} {
			s := spec
			mut(&s)
			wantErr(t, d.Define(ctx, s), hv.ErrInvalidSpec, "define with bad "+what)
		}
		_, err := d.State(ctx, spec.Name)
		wantErr(t, err, hv.ErrNotFound, "state after failed defines")
	})
	t.Run("ListAndResources", func(t *testing.T) {
		d, a := mk(t, "hvt-list-a")
		b := caps.Spec(t, "hvt-list-b")
		t.Cleanup(func() { removeDomain(d, b.Name) })
		ctx := ctxT(t)
		before, err := d.Resources(ctx)
		must(t, err, "resources")
		if before.CPUs < 1 || before.MemoryMiB < 1 {
			t.Errorf("resources: %+v: want cpus and memory", before)
		}
		must(t, d.Define(ctx, b), "define b")
		must(t, d.Define(ctx, a), "define a")
		list, err := d.List(ctx)
		must(t, err, "list")
		names := make([]string, 0, len(list))
		for _, i := range list {
			names = append(names, i.Name)
			if i.Name == a.Name && (i.VCPUs != a.VCPUs || i.MemoryMiB != a.MemoryMiB || i.State != hv.StateStopped || i.UUID == "") {
				t.Errorf("list entry %+v does not match spec (vcpus %d, memory %d)", i, a.VCPUs, a.MemoryMiB)
			}
		}
		if !slices.IsSorted(names) || !slices.Contains(names, a.Name) || !slices.Contains(names, b.Name) {
			t.Errorf("list names %v: want sorted, with %s and %s", names, a.Name, b.Name)
		}
		must(t, d.Start(ctx, a.Name), "start a")
		after, err := d.Resources(ctx)
		must(t, err, "resources")
		if after.Running != before.Running+1 || after.UsedMemoryMiB != before.UsedMemoryMiB+a.MemoryMiB ||
			after.UsedVCPUs != before.UsedVCPUs+a.VCPUs || after.Domains != before.Domains+2 {
			t.Errorf("resources after start: %+v, before %+v, domain %d vcpus %d MiB", after, before, a.VCPUs, a.MemoryMiB)
		}
		must(t, d.Destroy(ctx, a.Name), "destroy a")
	})
	t.Run("Shutdown", func(t *testing.T) {
		d, spec := mk(t, "hvt-shut")
		ctx := ctxT(t)
		must(t, d.Define(ctx, spec), "define")
		must(t, d.Start(ctx, spec.Name), "start")
		time.Sleep(caps.ReadyWait)
		if caps.GracefulShutdown {
			must(t, d.Shutdown(ctx, spec.Name, caps.ShutdownTimeout), "shutdown")
			wantState(t, d, spec.Name, hv.StateStopped)
			return
		}
		start := time.Now()
		err := d.Shutdown(ctx, spec.Name, 2*time.Second)
		wantErr(t, err, hv.ErrTimeout, "shutdown of a guest that ignores it")
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("shutdown with 2s timeout took %s", took)
		}
		wantState(t, d, spec.Name, hv.StateRunning)
		must(t, d.Destroy(ctx, spec.Name), "destroy after shutdown timeout")
	})
	t.Run("Reboot", func(t *testing.T) {
		if !caps.Reboot {
			realtest.Optional(t, "driver caps: no reboot")
		}
		d, spec := mk(t, "hvt-reboot")
		ctx := ctxT(t)
		must(t, d.Define(ctx, spec), "define")
		must(t, d.Start(ctx, spec.Name), "start")
		time.Sleep(caps.ReadyWait)
		must(t, d.Reboot(ctx, spec.Name), "reboot")
		time.Sleep(caps.ReadyWait)
		wantState(t, d, spec.Name, hv.StateRunning)
	})
	t.Run("Console", func(t *testing.T) {
		d, spec := mk(t, "hvt-console")
		ctx := ctxT(t)
		must(t, d.Define(ctx, spec), "define")
		if !caps.Console {
			_, err := d.Console(ctx, spec.Name)
			wantErr(t, err, hv.ErrUnsupported, "console")
			return
		}
		must(t, d.Start(ctx, spec.Name), "start")
		text, ok := watchConsole(t, d, spec.Name, caps.ConsoleWant, caps.ConsoleTimeout)
		if !ok {
			t.Errorf("console lacks %q after %s; it holds:\n%s", caps.ConsoleWant, caps.ConsoleTimeout, tail(text, 3000))
		}
	})
	t.Run("Events", func(t *testing.T) {
		if !caps.Events {
			realtest.Optional(t, "driver caps: no events")
		}
		d, spec := mk(t, "hvt-events")
		es, ok := d.(hv.EventSource)
		if !ok {
			t.Fatalf("%T does not implement hv.EventSource", d)
		}
		ctx := ctxT(t)
		ch, err := es.Events(ctx)
		must(t, err, "events")
		must(t, d.Define(ctx, spec), "define")
		must(t, d.Start(ctx, spec.Name), "start")
		must(t, d.Destroy(ctx, spec.Name), "destroy")
		must(t, d.Undefine(ctx, spec.Name), "undefine")
		// Hypervisors may add events (qemu: resumed, shutdown); the four
		// below must come in this order.
		want := []hv.EventType{hv.EventDefined, hv.EventStarted, hv.EventStopped, hv.EventUndefined}
		var got []hv.EventType
		next := 0
		timeout := time.After(30 * time.Second)
		for next < len(want) {
			select {
			case ev, ok := <-ch:
				if !ok {
					t.Fatalf("event channel closed; got %v", got)
				}
				if ev.Domain != spec.Name {
					continue
				}
				got = append(got, ev.Type)
				if ev.Type == want[next] {
					next++
				}
			case <-timeout:
				t.Fatalf("events for %s: got %v, want %v in order", spec.Name, got, want)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		d := newDriver(t)
		ctx := ctxT(t)
		const n = 4
		errs := make(chan error, n)
		for i := range n {
			spec := caps.Spec(t, fmt.Sprintf("hvt-conc%d", i))
			t.Cleanup(func() { removeDomain(d, spec.Name) })
			go func() {
				errs <- func() error {
					if err := d.Define(ctx, spec); err != nil {
						return err
					}
					for range 5 {
						if _, err := d.List(ctx); err != nil {
							return err
						}
						if st, err := d.State(ctx, spec.Name); err != nil || st != hv.StateStopped {
							return fmt.Errorf("state of %s: %s, %v", spec.Name, st, err)
						}
					}
					return d.Undefine(ctx, spec.Name)
				}()
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("ContextCanceled", func(t *testing.T) {
		d := newDriver(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := d.List(ctx); err == nil {
			t.Error("List with a cancelled context succeeded")
		}
	})
}

// watchConsole reads the domain's console until want shows up or timeout
// passes. It works for log files (read to EOF, reopened) and live streams.
func watchConsole(t *testing.T, d hv.Driver, name, want string, timeout time.Duration) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	for ctx.Err() == nil {
		rc, err := d.Console(ctx, name)
		if err != nil {
			t.Fatalf("console: %v", err)
		}
		found := make(chan string, 1)
		go func() {
			var sb strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := rc.Read(buf)
				sb.Write(buf[:n])
				if strings.Contains(sb.String(), want) || err != nil {
					if err != nil && !errors.Is(err, io.EOF) {
						t.Logf("console read: %v", err)
					}
					found <- sb.String()
					return
				}
			}
		}()
		select {
		case last = <-found:
		case <-ctx.Done():
		}
		rc.Close()
		if strings.Contains(last, want) {
			return last, true
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return last, false
}

// removeDomain destroys and undefines name, ignoring errors (cleanup).
func removeDomain(d hv.Driver, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = d.Destroy(ctx, name)
	_ = d.Undefine(ctx, name)
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func wantState(t *testing.T, d hv.Driver, name string, want hv.DomainState) {
	t.Helper()
	ctx := ctxT(t)
	st, err := d.State(ctx, name)
	if err != nil {
		t.Fatalf("state of %s: %v", name, err)
	}
	if st != want {
		t.Fatalf("state of %s = %s, want %s", name, st, want)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// MAC returns a locally administered MAC address for test NIC i.
func MAC(i int) string { return fmt.Sprintf("aa:00:00:00:%02x:%02x", i>>8&0xff, i&0xff) }
