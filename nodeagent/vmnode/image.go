package vmnode

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// ImageOptions say what goes into a node guest's initramfs.
type ImageOptions struct {
	Kernel Kernel
	// DRBD is "8.4" (the kernel's in-tree module) or "9" (Kernel.DRBD9Dir).
	DRBD string
	// Agent is the drover binary; it must be static (CGO_ENABLED=0).
	Agent string
	// Out is the initramfs written (an uncompressed cpio: a TCG guest
	// unpacks it faster than it inflates gzip).
	Out string
}

// Image is a built node image.
type Image struct {
	Kernel  Kernel
	Initrd  string
	Modules []string
	// NoDiskFaults are the disk-fault modules the kernel lacks (dm_delay,
	// dm_flakey): the guests cannot be given a slow or failing disk of
	// that kind (disk.go).
	NoDiskFaults []string
}

// Modules every node guest loads: virtio disk and network, device-mapper
// (LVM), DRBD and the checksums DRBD uses.
var baseModules = []string{"virtio_pci", "virtio_net", "virtio_blk", "dm_mod", "crc32c_generic"}

// diskFaultModules are loaded when the kernel has them: the dm targets
// that make the node's disk slow or failing (disk.go).
var diskFaultModules = []string{"dm_delay", "dm_flakey"}

// Programs copied with the libraries ldd lists. drbdadm 9 dispatches to
// drbdadm-84/drbdsetup-84 when the module is 8.4.
var programs = []string{"drbdadm", "drbdsetup", "drbdmeta", "lvm"}
var drbd84Helpers = []string{"/lib/drbd/drbdadm-84", "/lib/drbd/drbdsetup-84", "/usr/lib/drbd/drbdadm-84", "/usr/lib/drbd/drbdsetup-84"}

// lvmConf: no udev in the guest (devices and links are made by lvm itself);
// LVM never scans the DRBD devices (a suspended one makes vgs wait in the
// kernel, unkillable: docs/install.md).
const lvmConf = `# drover node guest: no udev
devices { obtain_device_list_from_udev = 0 global_filter = [ "r|^/dev/drbd|" ] }
activation { udev_sync = 0 udev_rules = 0 }
global { use_lvmlockd = 0 }
backup { backup = 0 archive = 0 }
`

// lvmConfNodeDisk replaces lvmConf when the VG is on the node disk's
// device-mapper device (disk.go): LVM sees only that device, never the
// virtio disk under it (the same PV twice).
var lvmConfNodeDisk = strings.Replace(lvmConf, `global_filter = [ "r|^/dev/drbd|" ]`,
	`global_filter = [ "a|^/dev/mapper/`+NodeDiskName+`$|", "r|.*|" ]`, 1)

// initScript is the guest's /init: it mounts the kernel file systems, loads
// the modules, sets the node's name and address from /etc/drover/node.env
// (the per-node archive), with DISKFAULTS=1 there puts the node disk's
// device-mapper device over /dev/vda (linear: healthy; disk.go), listens
// for lab faults on port 7999 (/bin/drover-fault) and keeps the agent
// running with its VG on /dev/vda or that device.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs run /run
mkdir -p /run/lock /run/drbd /var/lock /var/run/drbd /var/lib/drbd /etc/drbd.d /var/lib/drover /tmp
for m in $(cat /etc/drover/modules); do insmod /lib/modules/drover/$m.ko || echo "drover-node: insmod $m failed"; done
. /etc/drover/node.env
hostname "$NODE"
ip link set lo up; ip link set eth0 up; ip addr add "$IP/$PREFIX" dev eth0
echo "drover-node: $NODE at $IP, DRBD $(sed -n 's/^version: \([^ ]*\).*/\1/p' /proc/drbd)"
PV=` + NodeDiskLower + `
if [ "$DISKFAULTS" = 1 ]; then
  if /bin/drover-disk create && [ -b /dev/mapper/` + NodeDiskName + ` ]; then
    PV=/dev/mapper/` + NodeDiskName + `; cp /etc/lvm/lvm-nodedisk.conf /etc/lvm/lvm.conf
    echo "drover-node: node disk $PV: $(dmsetup table ` + NodeDiskName + `)"
  else
    echo "drover-node: no device-mapper device over $PV: the VG is on $PV (no disk faults)"
  fi
fi
# Lab faults from the host (drover local fault): one command per connection.
nc -ll -p 7999 -e /bin/drover-fault &
while true; do
  /bin/drover agent --credentials /etc/drover/credentials.json --hypervisor workload \
    --storage-dir /var/lib/drover --lvm-vg drover --lvm-pv "$PV" --drbd-resync-rate 200M ${DISKFAULTS:+--drbd-reattach} --log-level "${LOGLEVEL:-info}" &
  echo $! > /run/drover-agent.pid
  wait $!
  echo "drover-node: agent exited ($?); restarting in 2 s"; sleep 2
done
`

// IsStatic reports whether the ELF binary at p needs no dynamic loader.
func IsStatic(p string) (bool, error) {
	f, err := elf.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, pr := range f.Progs {
		if pr.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

var lddRE = regexp.MustCompile(`(?m)(?:=>\s*)?(/\S+)\s+\(0x`)

// libraries lists the shared objects ldd names for bin (none when static).
func libraries(ctx context.Context, bin string) ([]string, error) {
	if st, err := IsStatic(bin); err != nil || st {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("vmnode: ldd %s: %w", bin, err)
	}
	var libs []string
	for _, m := range lddRE.FindAllStringSubmatch(string(out), -1) {
		libs = append(libs, m[1])
	}
	return libs, nil
}

func findProgram(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("vmnode: %s not found (install drbd-utils, lvm2 and busybox-static)", name)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Build writes the initramfs.
func Build(ctx context.Context, o ImageOptions) (*Image, error) {
	if st, err := IsStatic(o.Agent); err != nil || !st {
		return nil, fmt.Errorf("vmnode: agent binary %s must be static (CGO_ENABLED=0 go build): static %v, %v", o.Agent, st, err)
	}
	trees := []string{o.Kernel.ModulesDir}
	want := append([]string(nil), baseModules...)
	switch o.DRBD {
	case "8.4", "":
		want = append(want, "drbd")
	case "9":
		if o.Kernel.DRBD9Dir == "" {
			return nil, fmt.Errorf("vmnode: DRBD 9 needs a kit with drbd9/ built for kernel %s (see docs/drbd.md); %s has only DRBD 8.4", o.Kernel.Version, o.Kernel.Source)
		}
		trees = append(trees, o.Kernel.DRBD9Dir)
		want = append(want, "drbd", "drbd_transport_tcp")
	default:
		return nil, fmt.Errorf("vmnode: DRBD %q: want 8.4 or 9", o.DRBD)
	}
	idx, err := indexModules(trees...)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, m := range diskFaultModules {
		if _, ok := idx[m]; ok {
			want = append(want, m)
		} else {
			missing = append(missing, m)
		}
	}
	order, err := idx.loadOrder(want)
	if err != nil {
		return nil, err
	}
	a := newArchive()
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "var/lock", "var/run", "var/lib/drbd", "etc/drbd.d", "bin", "sbin", "usr/bin", "usr/sbin", "root"} {
		a.dir(d)
	}
	a.file("init", 0o755, []byte(initScript))
	a.file("bin/drover-disk", 0o755, []byte(diskScript))
	a.file("bin/drover-fault", 0o755, []byte(faultScript))
	a.file("etc/lvm/lvm.conf", 0o644, []byte(lvmConf))
	a.file("etc/lvm/lvm-nodedisk.conf", 0o644, []byte(lvmConfNodeDisk))
	a.file("etc/drover/modules", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	a.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	a.file("etc/group", 0o644, []byte("root:x:0:\ndisk:x:6:\n"))
	for _, m := range order {
		b, err := os.ReadFile(idx[m])
		if err != nil {
			return nil, err
		}
		a.file("lib/modules/drover/"+m+".ko", 0o644, b)
	}
	copyBin := func(src, dst string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("vmnode: %w", err)
		}
		a.file(dst, 0o755, b)
		libs, err := libraries(ctx, src)
		if err != nil {
			return err
		}
		for _, l := range libs {
			if a.dirs[strings.TrimPrefix(l, "/")] {
				continue
			}
			lb, err := os.ReadFile(l)
			if err != nil {
				return fmt.Errorf("vmnode: library of %s: %w", src, err)
			}
			a.file(l, 0o755, lb)
			a.dirs[strings.TrimPrefix(l, "/")] = true // as a "seen" mark
		}
		return nil
	}
	bb, err := findProgram("busybox")
	if err != nil {
		return nil, err
	}
	if err := copyBin(bb, "/bin/busybox"); err != nil {
		return nil, err
	}
	for _, p := range programs {
		src, err := findProgram(p)
		if err != nil {
			return nil, err
		}
		if err := copyBin(src, src); err != nil {
			return nil, err
		}
	}
	// dmsetup switches the node disk's table (disk.go); without it (the
	// dmsetup package) the guests get no disk faults.
	if src, err := findProgram("dmsetup"); err == nil {
		if err := copyBin(src, src); err != nil {
			return nil, err
		}
	} else {
		missing = append(missing, "dmsetup")
	}
	if o.DRBD != "9" {
		found := false
		for _, h := range drbd84Helpers {
			if fileExists(h) {
				if err := copyBin(h, h); err != nil {
					return nil, err
				}
				found = true
			}
		}
		if !found {
			return nil, errors.New("vmnode: drbdadm-84 not found (drbd-utils 9 ships it in /lib/drbd)")
		}
	}
	if err := copyBin(o.Agent, "/bin/drover"); err != nil {
		return nil, err
	}
	tmp := o.Out + ".tmp"
	if err := os.WriteFile(tmp, a.bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, o.Out); err != nil {
		return nil, err
	}
	return &Image{Kernel: o.Kernel, Initrd: o.Out, Modules: order, NoDiskFaults: missing}, nil
}

// NodeFiles is the per-node part of a guest's initramfs.
type NodeFiles struct {
	Name string
	// IP and Prefix of the guest's eth0.
	IP     string
	Prefix int
	// Credentials is the agent's credentials file (JSON).
	Credentials []byte
	// LogLevel of the agent (default info).
	LogLevel string
	// DiskFaults puts the node's VG on the node disk's device-mapper
	// device (disk.go) instead of the bare virtio disk.
	DiskFaults bool
}

// WriteNodeInitrd writes base followed by a small archive with the node's
// files: the kernel unpacks concatenated archives in order.
func WriteNodeInitrd(base, out string, n NodeFiles) error {
	b, err := os.ReadFile(base)
	if err != nil {
		return err
	}
	a := newArchive()
	a.dirs["etc"], a.dirs["etc/drover"] = true, true
	lvl := n.LogLevel
	if lvl == "" {
		lvl = "info"
	}
	env := fmt.Sprintf("NODE=%q\nIP=%q\nPREFIX=%d\nLOGLEVEL=%q\n", n.Name, n.IP, n.Prefix, lvl)
	if n.DiskFaults {
		env += "DISKFAULTS=1\n"
	}
	a.file("etc/drover/node.env", 0o644, []byte(env))
	a.file("etc/drover/credentials.json", 0o600, n.Credentials)
	var buf bytes.Buffer
	buf.Write(b)
	buf.Write(a.bytes())
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
