package fake_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/drover-project/drover/nodeagent/hv"
	"github.com/drover-project/drover/nodeagent/hv/fake"
	"github.com/drover-project/drover/nodeagent/hv/hvtest"
)

func spec(t *testing.T, name string) hv.DomainSpec {
	return hv.DomainSpec{Name: name, Kind: hv.KindFake, VCPUs: 2, MemoryMiB: 256,
		Disks: []hv.Disk{{Path: "/nonexistent/" + name + ".img"}}, NICs: []hv.NIC{{MAC: hvtest.MAC(1)}},
		ConsoleLog: filepath.Join(t.TempDir(), name+".console")}
}

func TestConformance(t *testing.T) {
	hvtest.Run(t, func(t *testing.T) hv.Driver {
		d := fake.New(fake.Options{})
		t.Cleanup(func() { d.Close() })
		return d
	}, hvtest.Caps{Spec: spec, GracefulShutdown: true, Reboot: true, Console: true, ConsoleWant: "login:", Events: true})
}

func TestIgnoredShutdownTimesOut(t *testing.T) {
	ctx := context.Background()
	d := fake.New(fake.Options{})
	defer d.Close()
	s := spec(t, "stubborn")
	must(t, d.Define(ctx, s))
	must(t, d.Start(ctx, s.Name))
	must(t, d.IgnoreShutdown(s.Name, true))
	start := time.Now()
	if err := d.Shutdown(ctx, s.Name, 100*time.Millisecond); !errors.Is(err, hv.ErrTimeout) {
		t.Fatalf("shutdown: %v, want ErrTimeout", err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Error("shutdown returned before its timeout")
	}
	if st, _ := d.State(ctx, s.Name); st != hv.StateRunning {
		t.Errorf("state %s, want running", st)
	}
}

func TestMemoryAccounting(t *testing.T) {
	ctx := context.Background()
	d := fake.New(fake.Options{CPUs: 2, MemoryMiB: 600})
	defer d.Close()
	a, b, c := spec(t, "a"), spec(t, "b"), spec(t, "c")
	for _, s := range []hv.DomainSpec{a, b, c} {
		must(t, d.Define(ctx, s))
	}
	must(t, d.Start(ctx, a.Name))
	must(t, d.Start(ctx, b.Name))
	if err := d.Start(ctx, c.Name); !errors.Is(err, hv.ErrInsufficientResources) {
		t.Fatalf("third start: %v, want ErrInsufficientResources", err)
	}
	r, err := d.Resources(ctx)
	must(t, err)
	if r.UsedMemoryMiB != 512 || r.FreeMemoryMiB != 88 || r.Running != 2 || r.UsedVCPUs != 4 {
		t.Errorf("resources %+v", r)
	}
}

func TestDownAndCrash(t *testing.T) {
	ctx := context.Background()
	d := fake.New(fake.Options{})
	defer d.Close()
	s := spec(t, "x")
	must(t, d.Define(ctx, s))
	must(t, d.Start(ctx, s.Name))
	ch, err := d.Events(ctx)
	must(t, err)
	must(t, d.Crash(s.Name))
	if ev := <-ch; ev.Type != hv.EventCrashed || ev.Domain != s.Name {
		t.Errorf("event %+v, want crashed", ev)
	}
	d.SetDown(true)
	if _, err := d.List(ctx); !errors.Is(err, hv.ErrHypervisorDown) {
		t.Errorf("list while down: %v", err)
	}
	if err := d.Health(); !errors.Is(err, hv.ErrHypervisorDown) {
		t.Errorf("health while down: %v", err)
	}
	d.SetDown(false)
	must(t, d.Health())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
