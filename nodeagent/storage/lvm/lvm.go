// Package lvm manages a node's logical volumes (disk template plain, and the
// backing devices of drbd disks) in one volume group, through the lvm binary.
package lvm

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Errors; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("lvm: not found")
	ErrExists   = errors.New("lvm: already exists")
	ErrInvalid  = errors.New("lvm: invalid argument")
	ErrNoSpace  = errors.New("lvm: not enough free space in the volume group")
)

// Runner runs one program and returns its combined output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

func execRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// VG is one volume group.
type VG struct {
	Name string
	// Run runs lvm (default: exec from PATH).
	Run Runner
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9+_.][a-zA-Z0-9+_.-]{0,126}$`)

func (g *VG) lvm(ctx context.Context, args ...string) (string, error) {
	run := g.Run
	if run == nil {
		run = execRunner
	}
	out, err := run(ctx, "lvm", args...)
	return string(out), err
}

// Ensure makes the volume group on pv when it does not exist yet (a new
// node's disk); an existing group's volumes are activated (after a boot
// without udev nothing else does, and DRBD needs its backing devices to
// bring a resource back).
func (g *VG) Ensure(ctx context.Context, pv string) error {
	if !nameRE.MatchString(g.Name) {
		return fmt.Errorf("lvm: volume group name %q: %w", g.Name, ErrInvalid)
	}
	if _, err := g.lvm(ctx, "vgs", g.Name); err == nil {
		if _, err := g.lvm(ctx, "vgchange", "-ay", g.Name); err != nil {
			return fmt.Errorf("lvm: vgchange -ay: %w", err)
		}
		return nil
	}
	if _, err := g.lvm(ctx, "pvcreate", "-y", pv); err != nil {
		return fmt.Errorf("lvm: pvcreate: %w", err)
	}
	if _, err := g.lvm(ctx, "vgcreate", g.Name, pv); err != nil {
		return fmt.Errorf("lvm: vgcreate: %w", err)
	}
	return nil
}

// Usage reports the group's size and free space in MiB.
func (g *VG) Usage(ctx context.Context) (sizeMiB, freeMiB int64, err error) {
	out, err := g.lvm(ctx, "vgs", "--noheadings", "--units", "m", "--nosuffix", "-o", "vg_size,vg_free", g.Name)
	if err != nil {
		return 0, 0, fmt.Errorf("lvm: vgs: %w", err)
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("lvm: vgs printed %q", strings.TrimSpace(out))
	}
	return mib(f[0]), mib(f[1]), nil
}

func mib(s string) int64 {
	v, _ := strconv.ParseFloat(strings.ReplaceAll(s, ",", "."), 64)
	return int64(v)
}

// Volumes lists the group's logical volumes with their sizes in MiB.
func (g *VG) Volumes(ctx context.Context) (map[string]int64, error) {
	out, err := g.lvm(ctx, "lvs", "--noheadings", "--units", "m", "--nosuffix", "-o", "lv_name,lv_size", g.Name)
	if err != nil {
		return nil, fmt.Errorf("lvm: lvs: %w", err)
	}
	lvs := map[string]int64{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			lvs[f[0]] = mib(f[1])
		}
	}
	return lvs, nil
}

// Path is the device of logical volume lv (device-mapper's name: without
// udev there are no /dev/VG/LV links).
func (g *VG) Path(lv string) string {
	esc := func(s string) string { return strings.ReplaceAll(s, "-", "--") }
	return "/dev/mapper/" + esc(g.Name) + "-" + esc(lv)
}

// Create makes logical volume lv of sizeMiB and returns its device. An
// existing one is ErrExists; too little free space is ErrNoSpace, checked
// before anything changes.
func (g *VG) Create(ctx context.Context, lv string, sizeMiB int64) (string, error) {
	if !nameRE.MatchString(lv) || sizeMiB <= 0 {
		return "", fmt.Errorf("lvm: volume %q of %d MiB: %w", lv, sizeMiB, ErrInvalid)
	}
	lvs, err := g.Volumes(ctx)
	if err != nil {
		return "", err
	}
	if _, ok := lvs[lv]; ok {
		return g.Path(lv), fmt.Errorf("lvm: volume %s/%s: %w", g.Name, lv, ErrExists)
	}
	if _, free, err := g.Usage(ctx); err == nil && free < sizeMiB {
		return "", fmt.Errorf("lvm: volume %s of %d MiB, %d MiB free: %w", lv, sizeMiB, free, ErrNoSpace)
	}
	if _, err := g.lvm(ctx, "lvcreate", "--yes", "--wipesignatures", "y", "-n", lv, "-L", fmt.Sprintf("%dm", sizeMiB), g.Name); err != nil {
		return "", fmt.Errorf("lvm: lvcreate: %w", err)
	}
	return g.Path(lv), nil
}

// Remove deletes logical volume lv; a missing one is not an error.
func (g *VG) Remove(ctx context.Context, lv string) error {
	lvs, err := g.Volumes(ctx)
	if err != nil {
		return err
	}
	if _, ok := lvs[lv]; !ok {
		return nil
	}
	if _, err := g.lvm(ctx, "lvremove", "-f", g.Name+"/"+lv); err != nil {
		return fmt.Errorf("lvm: lvremove: %w", err)
	}
	return nil
}

// Grow enlarges lv to sizeMiB (never shrinks: smaller is ErrInvalid, equal
// does nothing).
func (g *VG) Grow(ctx context.Context, lv string, sizeMiB int64) error {
	lvs, err := g.Volumes(ctx)
	if err != nil {
		return err
	}
	cur, ok := lvs[lv]
	switch {
	case !ok:
		return fmt.Errorf("lvm: volume %s/%s: %w", g.Name, lv, ErrNotFound)
	case sizeMiB < cur:
		return fmt.Errorf("lvm: volume %s is %d MiB, cannot shrink to %d: %w", lv, cur, sizeMiB, ErrInvalid)
	case sizeMiB == cur:
		return nil
	}
	if _, free, err := g.Usage(ctx); err == nil && free < sizeMiB-cur {
		return fmt.Errorf("lvm: grow %s by %d MiB, %d MiB free: %w", lv, sizeMiB-cur, free, ErrNoSpace)
	}
	if _, err := g.lvm(ctx, "lvresize", "-L", fmt.Sprintf("%dm", sizeMiB), g.Name+"/"+lv); err != nil {
		return fmt.Errorf("lvm: lvresize: %w", err)
	}
	return nil
}
