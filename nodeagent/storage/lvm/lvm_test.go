package lvm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeLVM is a fake of the lvm binary for unit tests: one volume group held
// in memory, answering vgs/lvs in lvm's --noheadings --units m format. The
// real lvm runs in the node guests of the DRBD end-to-end test.
type fakeLVM struct {
	size  int64
	lvs   map[string]int64
	calls []string
}

func (f *fakeLVM) run(_ context.Context, name string, args ...string) ([]byte, error) {
	f.calls = append(f.calls, strings.Join(args, " "))
	if f.lvs == nil {
		return nil, errors.New("no volume group")
	}
	used := int64(0)
	for _, s := range f.lvs {
		used += s
	}
	switch args[0] {
	case "vgs":
		return fmt.Appendf(nil, "  %d.00 %d.00\n", f.size, f.size-used), nil
	case "lvs":
		var b strings.Builder
		for n, s := range f.lvs {
			fmt.Fprintf(&b, "  %s %d.00\n", n, s)
		}
		return []byte(b.String()), nil
	case "lvcreate":
		var mib int64
		fmt.Sscanf(args[7], "%dm", &mib)
		f.lvs[args[5]] = mib
	case "lvremove":
		delete(f.lvs, strings.SplitN(args[2], "/", 2)[1])
	case "lvresize":
		var mib int64
		fmt.Sscanf(args[2], "%dm", &mib)
		f.lvs[strings.SplitN(args[3], "/", 2)[1]] = mib
	}
	return nil, nil
}

func TestVolumes(t *testing.T) {
	ctx := context.Background()
	f := &fakeLVM{size: 1020, lvs: map[string]int64{}}
	g := &VG{Name: "drover", Run: f.run}
	p, err := g.Create(ctx, "inst-1.disk0", 256)
	if err != nil || p != "/dev/mapper/drover-inst--1.disk0" {
		t.Fatalf("create: %q %v", p, err)
	}
	if _, err := g.Create(ctx, "inst-1.disk0", 256); !errors.Is(err, ErrExists) {
		t.Errorf("create twice: %v", err)
	}
	if _, err := g.Create(ctx, "big", 900); !errors.Is(err, ErrNoSpace) {
		t.Errorf("create beyond free: %v", err)
	}
	if size, free, err := g.Usage(ctx); err != nil || size != 1020 || free != 764 {
		t.Errorf("usage %d %d %v", size, free, err)
	}
	if err := g.Grow(ctx, "inst-1.disk0", 128); !errors.Is(err, ErrInvalid) {
		t.Errorf("shrink: %v", err)
	}
	if err := g.Grow(ctx, "inst-1.disk0", 512); err != nil || f.lvs["inst-1.disk0"] != 512 {
		t.Errorf("grow: %v %v", err, f.lvs)
	}
	if err := g.Grow(ctx, "nope", 512); !errors.Is(err, ErrNotFound) {
		t.Errorf("grow missing: %v", err)
	}
	if err := g.Remove(ctx, "inst-1.disk0"); err != nil || len(f.lvs) != 0 {
		t.Errorf("remove: %v %v", err, f.lvs)
	}
	n := len(f.calls)
	if err := g.Remove(ctx, "inst-1.disk0"); err != nil || strings.Contains(strings.Join(f.calls[n:], ","), "lvremove") {
		t.Errorf("remove of a missing volume ran lvremove or failed: %v", err)
	}
	if _, err := g.Create(ctx, "bad name", 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
}

func TestEnsure(t *testing.T) {
	ctx := context.Background()
	f := &fakeLVM{size: 100}
	g := &VG{Name: "drover", Run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
		if args[0] == "vgcreate" {
			f.lvs = map[string]int64{}
		}
		if args[0] == "pvcreate" {
			f.calls = append(f.calls, strings.Join(args, " "))
			return nil, nil
		}
		return f.run(ctx, name, args...)
	}}
	if err := g.Ensure(ctx, "/dev/vda"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.calls, ","); got != "vgs drover,pvcreate -y /dev/vda,vgcreate drover /dev/vda" {
		t.Errorf("calls %q", got)
	}
	n := len(f.calls)
	if err := g.Ensure(ctx, "/dev/vda"); err != nil || strings.Join(f.calls[n:], ",") != "vgs drover,vgchange -ay drover" {
		t.Errorf("second ensure (an existing group is activated): %v, calls %q", err, f.calls[n:])
	}
}
